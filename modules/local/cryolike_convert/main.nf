/*
 * CRYOLIKE_CONVERT: one `cryolike-convert` run for one input (a cryoSPARC job or a samplesheet row) and
 * one downsampling setting. The input files are staged under inputs/, a folder (a cryoSPARC job folder,
 * or the folder holding the stacks) under project/; the result is the folder `prefix` with its
 * run_summary.json.
 *
 * meta: id, input (cryosparc_job | cryosparc | indexed_star | star_files), job_number (cryosparc_job),
 *       downsample_factor, downsample_type
 * Hydra overrides for every run come from task.ext.args (conf/modules.config); a user's YAML, when
 * given, is staged under user_conf/ and becomes the primary config (--config-dir / --config-name).
 * The device is cuda when the task has an accelerator (label process_gpu + -profile gpu), else cpu.
 */
process CRYOLIKE_CONVERT {
    tag "${meta.id} ds${meta.downsample_factor} ${meta.downsample_type}"
    label 'process_medium'
    label 'process_gpu'

    container 'cryolike_hydra:0.1.0'

    input:
    tuple val(meta), path(files, stageAs: 'inputs/*'), path(folder, stageAs: 'project/*')
    path(hydra_config, stageAs: 'user_conf/*')

    output:
    tuple val(meta), path("${prefix}", type: 'dir')       , emit: output
    tuple val(meta), path("${prefix}/run_summary.json")   , emit: summary
    tuple val("${task.process}"), val('cryolike_hydra'), eval('python -c "import cryolike_hydra; print(cryolike_hydra.__version__)"'), emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args    = task.ext.args ?: ''
    prefix      = task.ext.prefix ?: "${meta.id}_ds${meta.downsample_factor}_${meta.downsample_type}"
    def device  = task.accelerator ? 'cuda' : 'cpu'
    def staged  = (files instanceof List ? files : [files]).collect { it.toString() }
    // a user's YAML becomes the primary config; it extends the packaged one (defaults: [config, _self_])
    def source  = hydra_config ? "--config-dir=user_conf --config-name=${hydra_config.baseName} " : ''
    switch (meta.input) {
        case 'cryosparc_job':
            source += "input=cryosparc_job input.folder_cryosparc=project input.job_number=${meta.job_number}"
            break
        case 'cryosparc':
            source += "input=cryosparc input.file_cs=${staged[0]}" + (folder ? " input.folder_cryosparc=${folder}" : '')
            break
        case 'indexed_star':
            source += "input=indexed_star input.star_file=${staged[0]}" + (folder ? " input.folder_mrc=${folder}" : '')
            break
        case 'star_files':
            def stars  = staged.findAll { it.endsWith('.star') }
            def stacks = staged.findAll { !it.endsWith('.star') }
            source += "input=star_files 'input.star_file_list=[${stars.join(',')}]' 'input.particle_file_list=[${stacks.join(',')}]'"
            break
        default:
            error "CRYOLIKE_CONVERT: unknown input kind '${meta.input}' for '${meta.id}' (cryosparc_job, cryosparc, indexed_star or star_files)"
    }
    """
    cryolike-convert ${source} downsample.factor=${meta.downsample_factor} downsample.type=${meta.downsample_type} output.folder=${prefix} device=${device} hydra.run.dir=. ${args}
    """

    stub:
    prefix      = task.ext.prefix ?: "${meta.id}_ds${meta.downsample_factor}_${meta.downsample_type}"
    """
    mkdir -p ${prefix}/phys ${prefix}/fft
    touch ${prefix}/phys/particles_phys_stack_000000.pt
    touch ${prefix}/fft/particles_fourier_stack_000000.pt
    touch ${prefix}/fft/particles_fourier_stack_000000.npz
    echo '{"folder_output": "${prefix}", "input": "${meta.input}", "downsample_factor": ${meta.downsample_factor}, "downsample_type": "${meta.downsample_type}", "images_in": 0, "images_written": 0}' > ${prefix}/run_summary.json
    """
}
