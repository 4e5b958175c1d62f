#!/usr/bin/env nextflow
/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    cryolike_hydra: cryo-EM particle stacks -> CryoLike's polar-Fourier stacks, one task per input
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    Inputs, one of:
      --cryosparc_project DIR [--jobs 'J2,J5' | 'J1*' | '2,5']
            every J* folder holding a J*_passthrough_particles.cs, or the selected ones
      --input samplesheet.csv
            columns id,input,files,folder; one row per input of any kind (see docs/pipeline.md)
    Each input is combined with every --downsample_factors x --downsample_types setting; each
    combination is one CRYOLIKE_CONVERT task, published as <outdir>/<id>_ds<factor>_<type>/.
    CRYOLIKE_REPORT gathers every run_summary.json into <outdir>/report/{runs.csv,report.md}.
----------------------------------------------------------------------------------------------------------
*/

nextflow.enable.dsl = 2

include { CRYOLIKE_CONVERT } from './modules/local/cryolike_convert/main'
include { CRYOLIKE_REPORT  } from './modules/local/cryolike_report/main'

/*
    The four input kinds of cryolike-convert, and the samplesheet's columns.
*/
def inputKinds() {
    ['cryosparc_job', 'cryosparc', 'indexed_star', 'star_files']
}

def samplesheetColumns() {
    ['id', 'input', 'files', 'folder']
}

/*
    Comma-separated parameter values ('1,2', 'J2, J5'); a number given on the command line is one value.
*/
def csvValues(value) {
    value == null ? [] : value.toString().tokenize(',')*.trim().findAll { it }
}

/*
    Downsampling settings: every factor with every type. A factor of 1 does no pooling, so it is kept
    once (with the first type) instead of once per type.
*/
def downsampleSettings(factors, types) {
    def factor_list = csvValues(factors).collect { value ->
        if (!(value ==~ /\d+/) || (value as Integer) < 1) {
            error "--downsample_factors: '${value}' is not a whole number >= 1 (e.g. --downsample_factors '1,2')"
        }
        value as Integer
    }.unique()
    def type_list = csvValues(types).unique()
    type_list.each { type ->
        if (!(type in ['mean', 'max'])) {
            error "--downsample_types: '${type}' is not 'mean' or 'max' (e.g. --downsample_types 'mean,max')"
        }
    }
    if (!factor_list || !type_list) {
        error "--downsample_factors and --downsample_types need at least one value each"
    }
    def settings = []
    factor_list.each { factor ->
        (factor == 1 ? type_list.take(1) : type_list).each { type ->
            settings << [downsample_factor: factor, downsample_type: type]
        }
    }
    settings
}

/*
    cryoSPARC project mode: [meta, [], job folder] for every selected job folder, in job-number order.
    A job named explicitly ('J5' or '5') must exist and hold J5_passthrough_particles.cs; a glob ('J1*')
    selects among the job folders that do.
*/
def cryosparcJobs(project_dir, selection) {
    def project = file(project_dir, checkIfExists: true)
    if (!project.isDirectory()) {
        error "--cryosparc_project: '${project_dir}' is not a folder"
    }
    def is_job    = { dir -> dir.isDirectory() && dir.name ==~ /J\d+/ && dir.resolve("${dir.name}_passthrough_particles.cs").exists() }
    def available = project.listFiles().findAll { is_job(it) }
    def selectors = csvValues(selection).collect { it ==~ /\d+/ ? "J${it}" : it }
    def chosen    = []
    if (!selectors) {
        chosen = available
    }
    selectors.each { selector ->
        if (selector.contains('*') || selector.contains('?') || selector.contains('[')) {
            def matcher = java.nio.file.FileSystems.getDefault().getPathMatcher("glob:${selector}")
            chosen += available.findAll { matcher.matches(java.nio.file.Paths.get(it.name)) }
        } else {
            def job_dir = project.resolve(selector)
            if (!is_job(job_dir)) {
                error "--jobs: '${selector}' is not a cryoSPARC job folder of ${project} holding ${selector}_passthrough_particles.cs"
            }
            chosen << job_dir
        }
    }
    chosen = chosen.unique { it.name }.sort { it.name.substring(1) as Integer }
    if (!chosen) {
        error "no cryoSPARC job selected in ${project} (--jobs '${selection ?: ''}'): job folders found: ${available*.name.join(', ') ?: 'none'}"
    }
    chosen.collect { job_dir ->
        [[id: job_dir.name, input: 'cryosparc_job', job_number: job_dir.name.substring(1) as Integer], [], job_dir]
    }
}

/*
    Samplesheet mode: [meta, files, folder] per row. Relative paths are relative to the samplesheet's
    folder. files: ';'-separated (star_files: the STAR files and the stacks, pairwise in order;
    indexed_star: the STAR file; cryosparc: the .cs file; cryosparc_job: the job, 'J5' or '5').
    folder: folder_mrc / folder_cryosparc (the project folder for cryosparc_job); optional otherwise.
*/
def samplesheetRows(samplesheet) {
    def kinds   = inputKinds()
    def columns = samplesheetColumns()
    def sheet = file(samplesheet, checkIfExists: true)
    def base  = sheet.parent
    def rows  = sheet.splitCsv(header: true, strip: true)
    if (!rows) {
        error "--input ${samplesheet}: no rows (header: ${columns.join(',')})"
    }
    def missing_columns = columns.findAll { !(it in rows[0].keySet()) }
    if (missing_columns) {
        error "--input ${samplesheet}: missing column(s) ${missing_columns.join(', ')} (header: ${columns.join(',')})"
    }
    def resolve = { String value -> value.startsWith('/') || value.contains('://') ? file(value) : base.resolve(value) }
    def seen = [] as Set
    rows.withIndex().collect { row, index ->
        def where = "--input ${samplesheet}, row ${index + 2}"
        def id    = row.id ?: ''
        if (!(id ==~ /[A-Za-z0-9][A-Za-z0-9_.\-]*/)) {
            error "${where}: id '${id}' must be letters, digits, '_', '.', '-' (it names the output folder)"
        }
        if (!seen.add(id)) {
            error "${where}: id '${id}' is used twice; each row needs its own id"
        }
        if (!(row.input in kinds)) {
            error "${where}: input '${row.input}' is not one of ${kinds.join(', ')}"
        }
        def entries = (row.files ?: '').tokenize(';')*.trim().findAll { it }
        def folder  = row.folder ? resolve(row.folder) : null
        if (folder && !folder.isDirectory()) {
            error "${where}: folder '${row.folder}' is not a folder (resolved to ${folder})"
        }
        def meta = [id: id, input: row.input]
        if (row.input == 'cryosparc_job') {
            def job = entries ? entries[0].replaceFirst(/^J/, '') : ''
            if (entries.size() != 1 || !(job ==~ /\d+/) || !folder) {
                error "${where}: a cryosparc_job row names the job in 'files' (J5 or 5) and the project in 'folder'"
            }
            def job_dir = folder.resolve("J${job}")
            if (!job_dir.resolve("J${job}_passthrough_particles.cs").exists()) {
                error "${where}: ${job_dir}/J${job}_passthrough_particles.cs not found"
            }
            return [meta + [job_number: job as Integer], [], job_dir]
        }
        def paths = entries.collect { resolve(it) }
        paths.findAll { !it.exists() }.each { error "${where}: file '${it}' not found" }
        def n_star = paths.count { it.name.endsWith('.star') }
        if (row.input == 'star_files' && (n_star == 0 || n_star * 2 != paths.size())) {
            error "${where}: star_files needs as many STAR files as stacks in 'files' (got ${n_star} STAR, ${paths.size() - n_star} stacks)"
        }
        if (row.input in ['indexed_star', 'cryosparc'] && paths.size() != 1) {
            error "${where}: ${row.input} takes exactly one file in 'files' (got ${paths.size()})"
        }
        [meta, paths, folder ?: []]
    }
}

workflow {
    if (!params.outdir) {
        error "--outdir is required (a local folder, or s3://... on AWS Batch)"
    }
    if (!params.input == !params.cryosparc_project) {
        error "give either --cryosparc_project (with --jobs) or --input (a samplesheet), not ${params.input ? 'both' : 'neither'}"
    }

    // one element per job / samplesheet row: [meta, files, folder]
    def sources = params.input
        ? samplesheetRows(params.input)
        : cryosparcJobs(params.cryosparc_project, params.jobs)
    ch_sources  = channel.fromList(sources)
    ch_settings = channel.fromList(downsampleSettings(params.downsample_factors, params.downsample_types))

    // fan out: every source with every downsampling setting
    ch_tasks = ch_sources
        .combine(ch_settings)
        .map { meta, files, folder, setting -> [meta + setting, files, folder] }

    // a user's YAML is staged into every conversion task and used as its primary config
    if (params.hydra_config && file(params.hydra_config).baseName == 'config') {
        error "--hydra_config: rename ${params.hydra_config} (a primary config named 'config' would hide the packaged one it extends)"
    }
    ch_hydra_config = params.hydra_config
        ? channel.value(file(params.hydra_config, checkIfExists: true))
        : channel.value([])

    CRYOLIKE_CONVERT(ch_tasks, ch_hydra_config)

    // one table for the whole run, rows in a stable order
    ch_summaries = CRYOLIKE_CONVERT.out.summary
        .toSortedList { a, b -> "${a[0].id}|${a[0].downsample_factor}|${a[0].downsample_type}" <=> "${b[0].id}|${b[0].downsample_factor}|${b[0].downsample_type}" }
        .map { pairs -> pairs.collect { it[1] } }

    CRYOLIKE_REPORT(ch_summaries)

    // software versions of every process, as <outdir>/pipeline_info/versions.yml
    CRYOLIKE_CONVERT.out.versions
        .mix(CRYOLIKE_REPORT.out.versions)
        .unique()
        .map { process_name, tool, version -> "${process_name.tokenize(':').last()}:\n    ${tool}: ${version}\n" }
        .collectFile(name: 'versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true)
}
