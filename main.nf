#!/usr/bin/env nextflow
/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    cryolike_hydra: cryo-EM particle stacks -> CryoLike's polar-Fourier stacks, one task per input
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    Inputs, one of:
      --cryosparc_project DIR [--jobs 'J2,J5' | 'J1*' | '2,5']
            every J* folder holding a J*_passthrough_particles.cs, or the selected ones
      --input samplesheet.csv
            columns id,input,files,folder; one row per input of any kind (assets/schema_input.json)
    Each input is combined with every --downsample_factors x --downsample_types setting; each
    combination is one CRYOLIKE_CONVERT task, published as <outdir>/<id>_ds<factor>_<type>/.
    CRYOLIKE_REPORT gathers every run_summary.json into <outdir>/report/{runs.csv,report.md}.
    Parameters: nextflow_schema.json (nextflow run . --help). Usage: docs/pipeline.md.
----------------------------------------------------------------------------------------------------------
*/

include { CRYOLIKE_CONVERT } from './modules/local/cryolike_convert/main'
include { CRYOLIKE_REPORT  } from './modules/local/cryolike_report/main'
include { cryosparcJobs; samplesheetRows; downsampleSettings; checkStageable } from './subworkflows/local/cryolike_inputs/main'
include { helpText; validateParameters; dumpParameters; completionSummary } from './subworkflows/local/cryolike_params/main'

workflow {
    if (params.help) {
        log.info(helpText())
        return
    }

    // every parameter and input is checked here, before any task starts
    validateParameters()
    if (!params.outdir) {
        error "--outdir is required: a local folder, or s3://... on AWS Batch (nextflow run . --help lists the parameters)"
    }
    if (!params.input == !params.cryosparc_project) {
        error "give either --cryosparc_project (with --jobs) or --input (a samplesheet), not ${params.input ? 'both' : 'neither'}"
    }
    def settings = downsampleSettings(params.downsample_factors, params.downsample_types)
    // one element per job / samplesheet row: [meta, files, folder]
    def sources = params.input
        ? samplesheetRows(params.input)
        : cryosparcJobs(params.cryosparc_project, params.jobs)
    // a user's YAML is staged into every conversion task and used as its primary config
    def hydra_config = params.hydra_config ? file(params.hydra_config, checkIfExists: true) : []
    if (hydra_config && !(hydra_config.name ==~ /.+\.ya?ml/)) {
        error "--hydra_config: '${params.hydra_config}' is not a .yaml or .yml file"
    }
    if (hydra_config) {
        checkStageable(hydra_config, '--hydra_config')
    }
    dumpParameters(params.outdir)

    // fan out: every source with every downsampling setting
    ch_tasks = channel.fromList(sources)
        .combine(channel.fromList(settings))
        .map { meta, files, folder, setting -> [meta + setting, files, folder] }

    CRYOLIKE_CONVERT(ch_tasks, hydra_config)

    // one table for the whole run, rows in a stable order; no report when no conversion ran
    ch_summaries = CRYOLIKE_CONVERT.out.summary
        .toSortedList { a, b -> "${a[0].id}|${a[0].downsample_factor}|${a[0].downsample_type}" <=> "${b[0].id}|${b[0].downsample_factor}|${b[0].downsample_type}" }
        .map { pairs -> pairs.collect { it[1] } }
        .filter { it }

    CRYOLIKE_REPORT(ch_summaries)

    // software versions of every process (cryolike-convert --version) and of the workflow itself
    channel.of(['Workflow', "nextflow: ${workflow.nextflow.version}\ncryolike_hydra_pipeline: ${workflow.manifest.version}"])
        .mix(CRYOLIKE_CONVERT.out.versions, CRYOLIKE_REPORT.out.versions)
        .unique()
        .map { process_name, text -> "${process_name.tokenize(':').last()}:\n" + text.readLines().collect { "    ${it}" }.join('\n') + '\n' }
        .collectFile(name: 'versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true)
}

workflow.onComplete {
    if (!params.help) {
        log.info(completionSummary())
    }
}
