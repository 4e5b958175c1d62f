/*
 * CRYOLIKE_REPORT: every conversion's run_summary.json in one table for the whole run (runs.csv) and a
 * short Markdown report (report.md). The summaries are staged as 1/run_summary.json, 2/run_summary.json, ...
 */
process CRYOLIKE_REPORT {
    tag "${summaries instanceof List ? summaries.size() : 1} runs"
    label 'process_single'

    container 'cryolike_hydra:0.1.0'

    input:
    path(summaries, stageAs: '?/*')

    output:
    path('runs.csv')  , emit: csv
    path('report.md') , emit: markdown
    tuple val("${task.process}"), eval('cryolike-convert --version'), emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args  = task.ext.args ?: ''
    def files = (summaries instanceof List ? summaries : [summaries]).join(' ')
    """
    cryolike-report --csv runs.csv --markdown report.md ${files} ${args}
    """

    stub:
    """
    touch runs.csv report.md
    """
}
