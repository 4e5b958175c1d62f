/*
 * Render the script: or stub: block of one process of a module file for given tasks, the way Nextflow
 * does: the block's Groovy code runs with the task's inputs bound to their names and with `task`
 * (task.ext.args, task.ext.prefix, task.accelerator, task.process); its last value, the triple-quoted
 * string, is the task's command, indentation stripped. Nothing is copied from the module: the tests run
 * exactly what the pipeline would run (tests/test_pipeline_command.py, tests/test_container.py).
 *
 *   java -cp groovy-4.x.jar:groovy-json-4.x.jar groovy.ui.GroovyMain render_process_block.groovy \
 *        MODULE.nf PROCESS TASKS.json
 *
 * TASKS.json: a list of {"block": "script" | "stub", "task": {"ext": {"args": "..."}, "accelerator": null},
 *                        "values": {"meta": {...}}, "paths": {"files": ["inputs/a.star"], "folder": null}}
 * A path input given as a string or a list of strings is staged under that name; null stands for `[]`
 * (an absent optional input). Instead of task.ext.args, a task may give
 *     "ext_args_from": {"nextflow_config": "nextflow.config", "modules_config": "conf/modules.config",
 *                       "params": {"batch_size": 2}}
 * to evaluate the process's `ext.args` closure of conf/modules.config with the params block of
 * nextflow.config (its defaults, then the given params), as a run with `--batch_size 2` would.
 * Prints a JSON list of {"command": "..."} or {"error": "..."}.
 */
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

/* A staged input file as a process script sees it: its staged name, with Nextflow's name accessors. */
class StagedPath {
    final String path

    StagedPath(String path) { this.path = path }

    String getName() { path.tokenize('/').last() }

    String getBaseName() {
        String name = getName()
        name.contains('.') ? name.substring(0, name.lastIndexOf('.')) : name
    }

    String toString() { path }
}

/* The code of `block` ("script" or "stub") of `process NAME { ... }` in the module's text. */
String blockCode(String text, String processName, String block) {
    List<String> lines = text.readLines()
    int start = lines.findIndexOf { it ==~ /^\s*process\s+${processName}\s*\{\s*$/ }
    if (start < 0) {
        throw new IllegalArgumentException("process ${processName} not found")
    }
    int end = (start + 1..<lines.size()).find { lines[it] ==~ /^\}\s*$/ } ?: lines.size()
    List<String> body = lines.subList(start + 1, end)
    def label = ~/^\s*(input|output|when|script|shell|exec|stub)\s*:\s*$/
    int from = body.findIndexOf { it ==~ /^\s*${block}\s*:\s*$/ }
    if (from < 0) {
        throw new IllegalArgumentException("process ${processName} has no ${block}: block")
    }
    int to = (from + 1..<body.size()).find { body[it] ==~ label } ?: body.size()
    body.subList(from + 1, to).join('\n')
}

/* The text of the brace block that opens at `open` ('{'), braces included (the config's braces balance). */
String braceBlock(String text, int open) {
    int depth = 0
    for (int i = open; i < text.length(); i++) {
        if (text.charAt(i) == ('{' as char)) {
            depth++
        } else if (text.charAt(i) == ('}' as char)) {
            depth--
            if (depth == 0) {
                return text.substring(open, i + 1)
            }
        }
    }
    throw new IllegalArgumentException('unbalanced braces')
}

/* The params of nextflow.config (its `params { ... }` block) with `overrides` on top. */
Map pipelineParams(String nextflowConfig, Map overrides) {
    String text = new File(nextflowConfig).text
    def start = text =~ /(?m)^params\s*\{/
    if (!start.find()) {
        throw new IllegalArgumentException("no params block in ${nextflowConfig}")
    }
    Map params = [:]
    String block = braceBlock(text, start.end() - 1)
    new ConfigSlurper().parse('params ' + block).params.each { key, value -> params[key] = value }
    params.putAll(overrides ?: [:])
    params
}

/* task.ext.args of `processName` as conf/modules.config computes it for these params. */
String extArgs(String modulesConfig, String processName, Map params) {
    String text = new File(modulesConfig).text
    def scope = text =~ /withName:\s*'${processName}'\s*\{/
    if (!scope.find()) {
        throw new IllegalArgumentException("no withName: '${processName}' in ${modulesConfig}")
    }
    String body = braceBlock(text, scope.end() - 1)
    def args = body =~ /ext\.args\s*=\s*\{/
    if (!args.find()) {
        return null
    }
    String code = 'def closure = ' + braceBlock(body, args.end() - 1) + '\nclosure'
    Closure closure = new GroovyShell(new Binding(params: params)).evaluate(code) as Closure
    closure.call()?.toString()
}

/* Several staged files (Nextflow's BlankSeparatedList is a List too; its toString joins with blanks). */
class StagedList extends ArrayList<StagedPath> {
    String toString() { join(' ') }
}

def staged(value) {
    if (value == null) {
        return new StagedList()
    }
    if (value instanceof List) {
        StagedList files = new StagedList()
        value.each { files << new StagedPath(it as String) }
        return files
    }
    new StagedPath(value as String)
}

if (args.length != 3) {
    System.err.println('usage: render_process_block.groovy MODULE.nf PROCESS TASKS.json')
    System.exit(2)
}
String moduleText = new File(args[0]).text
String processName = args[1]
List tasks = new JsonSlurper().parse(new File(args[2])) as List

String helpers = '''
def error(String message) { throw new IllegalStateException(message) }
'''

List results = tasks.collect { Map spec ->
    try {
        Binding binding = new Binding()
        Map task = [ext: [args: null, prefix: null, when: null], accelerator: null, process: processName, attempt: 1]
        task.ext.putAll((spec.task?.ext ?: [:]) as Map)
        if (spec.ext_args_from) {
            Map from = spec.ext_args_from as Map
            Map params = pipelineParams(from.nextflow_config as String, from.params as Map)
            task.ext.args = extArgs(from.modules_config as String, processName, params)
        }
        (spec.task ?: [:]).findAll { it.key != 'ext' }.each { key, value -> task[key] = value }
        binding.setVariable('task', task)
        (spec.values ?: [:]).each { name, value -> binding.setVariable(name as String, value) }
        (spec.paths ?: [:]).each { name, value -> binding.setVariable(name as String, staged(value)) }
        def rendered = new GroovyShell(binding).evaluate(helpers + blockCode(moduleText, processName, spec.block as String))
        [command: rendered.toString().stripIndent().trim()]
    } catch (Exception e) {
        [error: "${e.class.simpleName}: ${e.message}".toString()]
    }
}
println JsonOutput.toJson(results)
