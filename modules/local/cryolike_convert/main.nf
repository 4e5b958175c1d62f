/*
 * CRYOLIKE_CONVERT: one `cryolike-convert` run for one input (a cryoSPARC job or a samplesheet row) and
 * one downsampling setting. The input files are staged under inputs/1/, inputs/2/, ... (so that two files
 * of the same name do not collide), a folder (a cryoSPARC job folder, or the folder holding the stacks)
 * under project/; the result is the folder `prefix` with its run_summary.json.
 *
 * meta: id, input (cryosparc_job | cryosparc | indexed_star | star_files), job_number (cryosparc_job),
 *       downsample_factor, downsample_type
 * Hydra overrides for every run come from task.ext.args (conf/modules.config); a user's YAML, when
 * given, is staged as user_conf/user_config.yaml and becomes the primary config (.yaml or .yml alike).
 * Staged names are the users' file names: each one is quoted for Hydra's override grammar and for the
 * shell, so spaces, '=', ',', brackets, quotes and '$' stay literal.
 * The device is cuda when the task has an accelerator (label process_gpu + -profile gpu), else cpu.
 */

/*
    A value in Hydra's override grammar: as it is when plain, else quoted ('...'), with a quote and the
    backslashes before a quote or the end escaped, and '${' escaped so that it is not interpolated.
*/
def hydraValue(value) {
    def text = value.toString()
    if (text ==~ /[A-Za-z0-9_.\/\-]+/) {
        return text
    }
    def escaped = text
        .replaceAll(/(\\+)(?='|\$\{|$)/) { all, run -> run * 2 }
        .replace("'", "\\'")
        .replace('${', '\\${')
    "'${escaped}'"
}

/*
    One word for bash: as it is when it holds no character that bash would interpret, else single-quoted.
*/
def shellWord(value) {
    def text = value.toString()
    text ==~ /[A-Za-z0-9_.\/=:,@%+\-]+/ ? text : "'" + text.replace("'", "'\\''") + "'"
}

def override(String key, value) {
    shellWord("${key}=${hydraValue(value)}")
}

def listOverride(String key, values) {
    shellWord("${key}=[" + values.collect { hydraValue(it) }.join(',') + ']')
}

process CRYOLIKE_CONVERT {
    tag "${meta.id} ds${meta.downsample_factor} ${meta.downsample_type}"
    label 'process_medium'
    label 'process_gpu'

    container 'cryolike_hydra:0.1.0'

    input:
    tuple val(meta), path(files, stageAs: 'inputs/?/*'), path(folder, stageAs: 'project/*')
    path(hydra_config, stageAs: 'user_conf/user_config.yaml')

    output:
    tuple val(meta), path("${prefix}", type: 'dir')       , emit: output
    tuple val(meta), path("${prefix}/run_summary.json")   , emit: summary
    tuple val("${task.process}"), eval('cryolike-convert --version'), emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args    = task.ext.args ?: ''
    prefix      = task.ext.prefix ?: "${meta.id}_ds${meta.downsample_factor}_${meta.downsample_type}"
    def device  = task.accelerator ? 'cuda' : 'cpu'
    def staged  = (files instanceof List ? files : [files]).collect { it.toString() }
    // a user's YAML becomes the primary config; it extends the packaged one (defaults: [config, _self_])
    def source  = hydra_config ? ['--config-dir=user_conf', '--config-name=user_config'] : []
    switch (meta.input) {
        case 'cryosparc_job':
            source += ['input=cryosparc_job', 'input.folder_cryosparc=project', "input.job_number=${meta.job_number}"]
            break
        case 'cryosparc':
            source += ['input=cryosparc', override('input.file_cs', staged[0])] + (folder ? [override('input.folder_cryosparc', folder)] : [])
            break
        case 'indexed_star':
            source += ['input=indexed_star', override('input.star_file', staged[0])] + (folder ? [override('input.folder_mrc', folder)] : [])
            break
        case 'star_files':
            source += [
                'input=star_files',
                listOverride('input.star_file_list', staged.findAll { it.endsWith('.star') }),
                listOverride('input.particle_file_list', staged.findAll { !it.endsWith('.star') }),
            ]
            break
        default:
            error "CRYOLIKE_CONVERT: unknown input kind '${meta.input}' for '${meta.id}' (cryosparc_job, cryosparc, indexed_star or star_files)"
    }
    """
    cryolike-convert ${source.join(' ')} downsample.factor=${meta.downsample_factor} downsample.type=${meta.downsample_type} ${override('output.folder', prefix)} device=${device} hydra.run.dir=. ${args}
    """

    stub:
    prefix      = task.ext.prefix ?: "${meta.id}_ds${meta.downsample_factor}_${meta.downsample_type}"
    def summary = groovy.json.JsonOutput.toJson([
        folder_output: prefix.toString(), input: meta.input, downsample_factor: meta.downsample_factor,
        downsample_type: meta.downsample_type, device: task.accelerator ? 'cuda' : 'cpu', images_in: 0, images_written: 0,
    ])
    """
    mkdir -p ${shellWord("${prefix}/phys")} ${shellWord("${prefix}/fft")}
    touch ${shellWord("${prefix}/phys/particles_phys_stack_000000.pt")} ${shellWord("${prefix}/fft/particles_fourier_stack_000000.pt")} ${shellWord("${prefix}/fft/particles_fourier_stack_000000.npz")}
    printf '%s\\n' ${shellWord(summary)} > ${shellWord("${prefix}/run_summary.json")}
    """
}
