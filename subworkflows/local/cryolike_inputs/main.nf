/*
 * The pipeline's inputs as task tuples [meta, files, folder], checked before any task starts.
 *
 *   cryosparcJobs(project, selection)      --cryosparc_project DIR [--jobs 'J2,J5' | '2,5' | 'J1*']
 *   samplesheetRows(samplesheet)           --input samplesheet.csv (columns: assets/schema_input.json)
 *   downsampleSettings(factors, types)     every --downsample_factors x --downsample_types setting
 *
 * Every mistake stops the run with one message naming the parameter, the row, the value and the fix.
 */

/*
    A list parameter: '1,2' or 'J2, J5' on the command line, [1, 2] in a -params-file, or one number.
*/
def listParam(value) {
    if (value == null || value == false || value == '') {
        return []
    }
    def items = value instanceof Collection ? value.flatten() : value.toString().tokenize(',')
    items.collect { it.toString().trim() }.findAll { it }
}

/*
    Nextflow's staging script leaves '$', braces, glob characters and tabs/newlines of a path to the
    shell (24.10: `ln -s /data/a$b.cs inputs/1/a$b.cs` expands $b), so such a path cannot reach a task.
*/
def checkStageable(path, String where) {
    def text = path.toString()
    def bad  = text.findAll(/[\$\{\}*?\[\]\t\n\r]/).unique()
    if (bad) {
        error "${where}: '${text}' holds ${bad.collect { it == '\t' ? 'a tab' : it == '\n' || it == '\r' ? 'a line break' : "'${it}'" }.join(', ')}, which Nextflow cannot stage into a task; rename it (spaces, quotes, '=', ',', '(', ')' and '&' are fine)"
    }
    path
}

/*
    Downsampling settings: every factor with every type. A factor of 1 does no pooling, so it is kept
    once (with the first type) instead of once per type.
*/
def downsampleSettings(factors, types) {
    def factor_list = listParam(factors).collect { value ->
        if (!(value ==~ /\d+/) || (value as Integer) < 1) {
            error "--downsample_factors: '${value}' is not a whole number >= 1 (e.g. --downsample_factors '1,2', or downsample_factors: [1, 2] in a params file)"
        }
        value as Integer
    }.unique()
    def type_list = listParam(types).unique()
    type_list.each { type ->
        if (!(type in ['mean', 'max'])) {
            error "--downsample_types: '${type}' is not 'mean' or 'max' (e.g. --downsample_types 'mean,max')"
        }
    }
    if (!factor_list || !type_list) {
        error "--downsample_factors and --downsample_types need at least one value each (e.g. '1,2' and 'mean')"
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
    def project = file(project_dir.toString(), checkIfExists: true)
    if (!project.isDirectory()) {
        error "--cryosparc_project: '${project_dir}' is not a folder"
    }
    def is_job    = { dir -> dir.isDirectory() && dir.name ==~ /J\d+/ && dir.resolve("${dir.name}_passthrough_particles.cs").exists() }
    def available = project.listFiles().findAll { is_job(it) }
    def selectors = listParam(selection).collect { it ==~ /\d+/ ? "J${it}" : it }
    def chosen    = selectors ? [] : available
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
        error "no cryoSPARC job selected in ${project} (--jobs '${listParam(selection).join(',')}'): job folders with particles: ${available*.name.join(', ') ?: 'none'}"
    }
    chosen.each { checkStageable(it, '--cryosparc_project') }
    chosen.collect { job_dir ->
        [[id: job_dir.name, input: 'cryosparc_job', job_number: job_dir.name.substring(1) as Integer], [], job_dir]
    }
}

/*
    The samplesheet's columns, input kinds and id rule, from its JSON schema (one definition for the
    pipeline, its documentation and the tests).
*/
def samplesheetSchema() {
    def schema = new groovy.json.JsonSlurper().parse(file("${projectDir}/assets/schema_input.json").toFile())
    def fields = schema.items.properties
    [columns: fields.keySet() as List, required: schema.items.required, kinds: fields.input.enum, id_pattern: fields.id.pattern]
}

/*
    Samplesheet mode: [meta, files, folder] per row. Relative paths are relative to the samplesheet's
    folder. files: ';'-separated (star_files: the STAR files and the stacks, pairwise in order;
    indexed_star: the STAR file; cryosparc: the .cs file; cryosparc_job: the job, 'J5' or '5').
    folder: folder_mrc / folder_cryosparc (the project folder for cryosparc_job); optional otherwise.
*/
def samplesheetRows(samplesheet) {
    def schema = samplesheetSchema()
    def sheet  = file(samplesheet.toString(), checkIfExists: true)
    def base   = sheet.parent
    def rows   = sheet.splitCsv(header: true, strip: true, quote: '"')  // RFC 4180: "a, b" is one value
    def header = "header: ${schema.columns.join(',')}"
    if (!rows) {
        error "--input ${samplesheet}: no rows (${header})"
    }
    def missing_columns = schema.columns.findAll { !(it in rows[0].keySet()) }
    if (missing_columns) {
        error "--input ${samplesheet}: missing column(s) ${missing_columns.join(', ')} (${header})"
    }
    // '.', '..' and './x' are resolved here, so that a folder is never staged under the name '.'
    def resolve = { String value -> (value.startsWith('/') || value.contains('://') ? file(value) : base.resolve(value)).normalize() }
    def seen = [] as Set
    rows.withIndex().collect { row, index ->
        def where = "--input ${samplesheet}, row ${index + 2}"
        schema.required.findAll { !row[it] }.each { column ->
            error "${where}: column '${column}' is empty"
        }
        def id = row.id
        if (!(id ==~ schema.id_pattern)) {
            error "${where}: id '${id}' must be letters, digits, '_', '.', '-', starting with a letter or digit (it names the output folder)"
        }
        if (!seen.add(id)) {
            error "${where}: id '${id}' is used twice; each row needs its own id"
        }
        if (!(row.input in schema.kinds)) {
            error "${where}: input '${row.input}' is not one of ${schema.kinds.join(', ')}"
        }
        def entries = (row.files ?: '').tokenize(';')*.trim().findAll { it }
        def folder  = row.folder ? resolve(row.folder) : null
        if (folder && !folder.isDirectory()) {
            error "${where}: folder '${row.folder}' is not a folder (resolved to ${folder})"
        }
        if (folder && row.input != 'cryosparc_job') {
            checkStageable(folder, where)
        }
        def meta = [id: id, input: row.input]
        if (row.input == 'cryosparc_job') {
            def job = entries ? entries[0].replaceFirst(/^J/, '') : ''
            if (entries.size() != 1 || !(job ==~ /\d+/) || !folder) {
                error "${where}: a cryosparc_job row names the job in 'files' (J5 or 5) and the project in 'folder'; got files '${row.files ?: ''}', folder '${row.folder ?: ''}'"
            }
            def job_dir = folder.resolve("J${job}")
            if (!job_dir.resolve("J${job}_passthrough_particles.cs").exists()) {
                error "${where}: ${job_dir}/J${job}_passthrough_particles.cs not found"
            }
            return [meta + [job_number: job as Integer], [], checkStageable(job_dir, where)]
        }
        if (!entries) {
            error "${where}: 'files' is empty; a ${row.input} row needs its file(s) there"
        }
        def paths = entries.collect { resolve(it) }
        paths.each { path ->
            checkStageable(path, where)
            if (!path.exists()) {
                error "${where}: file '${path}' not found"
            }
            if (path.isDirectory()) {
                error "${where}: '${path}' in 'files' is a folder; give folders in 'folder'"
            }
        }
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
