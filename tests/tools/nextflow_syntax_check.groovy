/*
 * Syntax check of Nextflow files (.nf, .config, .nf.test) with Groovy 4: each file is compiled up to the
 * CONVERSION phase (parsed into an AST; no class resolution), where Nextflow's DSL (process X { input: ...},
 * withLabel: 'x' { ... }, nextflow_process { ... }) is ordinary Groovy syntax, so only real syntax errors
 * fail: an unclosed brace or string, a stray token, a bad GString.
 *
 *   java -cp groovy-4.x.jar groovy.ui.GroovyMain tests/tools/nextflow_syntax_check.groovy FILE...
 *
 * Prints one line per file ("ok" or "ERROR file:line:column: message"); exit status 1 if any file fails.
 */
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.MultipleCompilationErrorsException
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.messages.SyntaxErrorMessage

if (!args) {
    System.err.println('usage: groovy nextflow_syntax_check.groovy FILE...')
    System.exit(2)
}

int failed = 0
args.each { String name ->
    File source = new File(name)
    if (!source.isFile()) {
        println "ERROR   ${name}: no such file"
        failed++
        return
    }
    CompilationUnit unit = new CompilationUnit(new CompilerConfiguration())
    unit.addSource(source)
    try {
        unit.compile(Phases.CONVERSION)
        println "ok      ${name}"
    } catch (MultipleCompilationErrorsException e) {
        failed++
        e.errorCollector.errors.each { message ->
            if (message instanceof SyntaxErrorMessage) {
                def cause = message.cause
                println "ERROR   ${name}:${cause.line}:${cause.startColumn}: ${cause.originalMessage}"
            } else {
                println "ERROR   ${name}: ${message}"
            }
        }
    }
}
System.exit(failed ? 1 : 0)
