/*
 * The pipeline's parameters, described by nextflow_schema.json (nf-core's format; no plugin needed):
 *
 *   helpText()                 what --help prints: every parameter, its type, default and description
 *   validateParameters()       types, allowed values and unknown names, before any task starts
 *   dumpParameters(outdir)     <outdir>/pipeline_info/params_<suffix>.json
 *   completionSummary()        the lines that workflow.onComplete prints
 */

def parameterSchema() {
    new groovy.json.JsonSlurper().parse(file("${projectDir}/nextflow_schema.json").toFile())
}

/*
    name -> schema entry of every parameter, in the schema's order, with the name of its group.
*/
def schemaParameters() {
    def schema = parameterSchema()
    def found  = [:]
    schema['$defs'].each { group_name, group ->
        group.properties.each { name, entry -> found[name] = entry + [group: group.title ?: group_name] }
    }
    found
}

def helpText() {
    def manifest = workflow.manifest
    def lines = [
        "${manifest.name} ${manifest.version}: ${manifest.description}",
        '',
        'Usage:',
        '    nextflow run . -profile <docker|podman|singularity|apptainer>[,gpu][,slurm|awsbatch] \\',
        '        (--cryosparc_project DIR [--jobs J2,J5] | --input samplesheet.csv) --outdir DIR [options]',
        '    nextflow run . -profile test[,podman]      (a tiny project; results in results_test/)',
    ]
    def group = null
    schemaParameters().each { name, entry ->
        if (entry.hidden) {
            return
        }
        if (entry.group != group) {
            group = entry.group
            lines += ['', "${group}:"]
        }
        def types   = entry.type instanceof List ? entry.type.join('|') : entry.type
        def choices = entry.enum ? " (${entry.enum.join(', ')})" : ''
        def value   = entry.containsKey('default') ? " [default: ${entry.default}]" : ''
        lines << "  --${name.padRight(22)} ${types}${choices}${value}".toString()
        lines << "      ${entry.description}".toString()
    }
    lines += ['', "Documentation: docs/pipeline.md (${manifest.homePage})"]
    lines.join('\n')
}

/*
    A value matches a schema type: numbers given as text on the command line count as numbers.
*/
def matchesType(value, type) {
    switch (type) {
        case 'null':    return value == null
        case 'boolean': return value instanceof Boolean || value.toString() in ['true', 'false']
        case 'integer': return value instanceof Integer || value instanceof Long || value.toString() ==~ /-?\d+/
        case 'number':  return value instanceof Number || value.toString().isNumber()
        case 'array':   return value instanceof Collection
        case 'string':  return value instanceof CharSequence || value instanceof Number
        default:        return true
    }
}

/*
    Every parameter against nextflow_schema.json: a value of the wrong type, a value outside an enum, a
    number below its minimum, and a name that is a mis-spelling of one of ours stop the run; a name the
    schema does not know at all is reported (it may belong to a config of your own).
*/
def validateParameters() {
    def known   = schemaParameters()
    def compact = { String name -> name.toLowerCase().replaceAll(/[-_]/, '') }
    def by_compact = known.keySet().collectEntries { [(compact(it)): it] }
    params.each { name, value ->
        if (known.containsKey(name)) {
            return
        }
        // --outDir, --downsample-factors (kept by Nextflow as 'downsample-factors' and 'downsampleFactors')
        def match = by_compact[compact(name)]
        if (match) {
            error "unknown parameter --${name}: did you mean --${match}? (nextflow run . --help lists them)"
        }
        log.warn "unknown parameter --${name} (not in nextflow_schema.json): ignored by this pipeline"
    }
    known.each { name, entry ->
        def value = params[name]
        if (value == null) {
            return
        }
        def types = entry.type instanceof List ? entry.type : [entry.type]
        if (!types.any { matchesType(value, it) }) {
            error "--${name}: '${value}' is not ${types.join(' or ')} (${entry.description})"
        }
        if (entry.enum && !(value.toString() in entry.enum)) {
            error "--${name}: '${value}' is not one of ${entry.enum.join(', ')}"
        }
        if (entry.containsKey('minimum') && value.toString().isNumber() && value.toString().toBigDecimal() < entry.minimum) {
            error "--${name}: ${value} is below its minimum ${entry.minimum}"
        }
    }
}

def dumpParameters(outdir) {
    def folder = file("${outdir}/pipeline_info")
    folder.mkdirs()
    def dump = folder.resolve("params_${params.trace_report_suffix}.json")
    dump.text = groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(params.collectEntries { k, v -> [(k): v instanceof Path ? v.toUriString() : v] })) + '\n'
    dump
}

def completionSummary() {
    def stats = workflow.stats
    def lines = [
        "cryolike_hydra ${workflow.success ? 'finished' : 'FAILED'} in ${workflow.duration}: " +
            "${stats.succeedCount} task(s) run, ${stats.cachedCount} cached, ${stats.failedCount} failed, ${stats.ignoredCount} ignored",
    ]
    if (params.outdir) {
        lines << "  results:  ${params.outdir}".toString()
        lines << "  report:   ${params.outdir}/report/report.md, runs.csv".toString()
        lines << "  run info: ${params.outdir}/pipeline_info (versions.yml, params, trace, report, timeline)".toString()
    }
    if (!workflow.success && workflow.errorMessage) {
        def messages = workflow.errorMessage.readLines()*.trim().findAll { it }
        lines << "  error:    ${messages.find { it.startsWith('Process `') } ?: messages[0]}".toString()
        lines << "  rerun with -resume to keep the tasks that finished".toString()
    }
    lines.join('\n')
}
