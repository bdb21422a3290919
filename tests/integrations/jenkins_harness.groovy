// Runs a shared-library step against stand-ins for Jenkins pipeline steps (no Jenkins here).
// args: <vars/step.groovy> <resources dir> <workspace dir> <request.json>
// request.json: {"args": {...step arguments...} or "calls": [{...}, ...], "credentials": {"id": {"username":..,"password":..} | {"file": ".."}}}
// Prints one JSON object: result or error, every sh call, archived artifacts, env the sh saw.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

def (stepFile, resourcesDir, workspace, requestFile) = args as List
def request = new JsonSlurper().parse(new File(requestFile))
def record = [sh: [], archived: [], shEnv: [], result: null, error: null]
def envStack = []
def binding = new Binding()

binding.setVariable('error', { String msg -> throw new IllegalStateException(msg) })
binding.setVariable('withEnv', { List entries, Closure body ->
    envStack.push(entries.collectEntries { def (k, v) = it.toString().split('=', 2) as List; [(k): v ?: ''] })
    try { body() } finally { envStack.pop() }
})
binding.setVariable('usernamePassword', { Map m -> [kind: 'usernamePassword'] + m })
binding.setVariable('file', { Map m -> [kind: 'file'] + m })
binding.setVariable('withCredentials', { List bindings, Closure body ->
    def vars = [:]
    bindings.each { b ->
        def cred = request.credentials[b.credentialsId]
        if (cred == null) { throw new IllegalStateException("no credential ${b.credentialsId}") }
        if (b.kind == 'usernamePassword') {
            vars[b.usernameVariable] = cred.username
            vars[b.passwordVariable] = cred.password
        } else {
            vars[b.variable] = cred.file
        }
    }
    envStack.push(vars)
    try { body() } finally { envStack.pop() }
})
binding.setVariable('sh', { Map m ->
    record.sh << [script: m.script, label: m.label]
    def env = new HashMap(System.getenv())
    envStack.each { env.putAll(it) }
    record.shEnv << env.findAll { k, v -> k.startsWith('KILN_') }
    def pb = new ProcessBuilder(['bash', '-c', m.script]).directory(new File(workspace)).redirectErrorStream(true)
    pb.environment().clear()
    pb.environment().putAll(env)
    def proc = pb.start()
    def output = proc.inputStream.text
    record.shOutput = output
    if (proc.waitFor() != 0) {
        throw new IllegalStateException("script returned exit code ${proc.exitValue()}")
    }
})
binding.setVariable('readFile', { String path -> new File(workspace, path).text })
binding.setVariable('archiveArtifacts', { Map m -> record.archived << m })
binding.setVariable('libraryResource', { String path -> new File(resourcesDir, path).text })

// A whole Jenkinsfile: the library's vars become steps, plus the Kubernetes-plugin steps it uses.
def varsDir = new File(resourcesDir).parentFile.toPath().resolve('vars').toFile()
varsDir.listFiles().findAll { it.name.endsWith('.groovy') }.each { f ->
    def name = f.name - '.groovy'
    binding.setVariable(name, { Map a -> new GroovyShell(binding).parse(f).invokeMethod('call', a) })
}
record.echo = []
record.pods = []
binding.setVariable('podTemplate', { Map m, Closure body -> record.pods << m.yaml; body() })
binding.setVariable('node', { String label, Closure body -> body() })
binding.setVariable('container', { String name, Closure body -> body() })
binding.setVariable('checkout', { Object scm -> })
binding.setVariable('scm', 'scm')
binding.setVariable('POD_LABEL', 'kiln-pod')
binding.setVariable('env', [BUILD_NUMBER: '42'])
binding.setVariable('echo', { String msg -> record.echo << msg })

File target = new File(stepFile)
if (target.name == 'Jenkinsfile') {
    String text = target.text.readLines().findAll { !it.startsWith('@Library') }.join('\n')
    try {
        new GroovyShell(binding).evaluate(text)
    } catch (IllegalStateException e) {
        record.error = e.message
    }
    println JsonOutput.toJson(record)
    return
}
def script = new GroovyShell(binding).parse(target)
// "calls": several argument maps, one JVM start (each answer in "outcomes"); else "args": one call.
def outcomes = (request.calls ?: [request.args]).collect { callArgs ->
    def outcome = [result: null, error: null, shCalls: record.sh.size()]
    try {
        def result = script.invokeMethod('call', callArgs)
        outcome.result = result instanceof Map ? result : result?.toString()
    } catch (IllegalStateException e) {
        outcome.error = e.message
    }
    outcome.shCalls = record.sh.size() - outcome.shCalls
    outcome
}
record.result = outcomes[0].result
record.error = outcomes[0].error
record.outcomes = outcomes
println JsonOutput.toJson(record)
