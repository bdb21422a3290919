// kilnBuild: build a Dockerfile with kiln and push it; returns [digest:, ref:, refs:] (with provenance: true
// also provenanceRef:, provenanceRefs:, provenanceTag:, provenanceTags:).
// Every value reaches the build through environment variables (withEnv / withCredentials) and the
// shell script is a constant, so neither a value nor a secret is ever part of a command line.
// Run it inside kiln's container, e.g. container('kiln') { kilnBuild(...) } (see kilnBuild.txt).

def call(Map args = [:]) {
    def known = ['context', 'dockerfile', 'destinations', 'buildArgs', 'labels', 'target', 'push',
                 'cache', 'cacheRepo', 'platform', 'extraArgs', 'credentialsId', 'registry',
                 'dockerConfigCredentialsId', 'outputDir', 'archive', 'sourceMetadata', 'provenance']
    def unknown = args.keySet().findAll { !(it in known) }
    if (unknown) {
        error("kilnBuild: unknown argument(s): ${unknown.sort().join(', ')}")
    }
    List destinations = asList(args.destinations)
    boolean push = args.containsKey('push') ? (args.push as boolean) : true
    if (push && !destinations) {
        error('kilnBuild: destinations is required unless push: false')
    }
    String outDir = args.outputDir ?: 'kiln-out'
    boolean provenance = (args.provenance ?: false) as boolean
    List settings = [
        "KILN_CONTEXT=${args.context ?: '.'}",
        "KILN_DOCKERFILE=${args.dockerfile ?: ''}",
        "KILN_DESTINATIONS=${lines(destinations, 'destinations')}",
        "KILN_PUSH=${push}",
        "KILN_BUILD_ARGS=${lines(keyValues(args.buildArgs), 'buildArgs')}",
        "KILN_LABELS=${lines(keyValues(args.labels), 'labels')}",
        "KILN_TARGET=${args.target ?: ''}",
        "KILN_CACHE=${(args.cache ?: false) as boolean}",
        "KILN_CACHE_REPO=${args.cacheRepo ?: ''}",
        "KILN_PLATFORM=${args.platform ?: ''}",
        "KILN_EXTRA_ARGS=${extraArgs(args.extraArgs)}",
        "KILN_REGISTRY=${args.registry ?: ''}",
        "KILN_OUTPUT_DIR=${outDir}",
        // GIT_URL/GIT_COMMIT (the Git plugin's) become org.opencontainers.image.source/.revision
        "KILN_SOURCE_METADATA=${args.containsKey('sourceMetadata') ? (args.sourceMetadata as boolean) : true}",
        // SLSA provenance attached to the pushed image (off by default, as kaniko has none)
        "KILN_PROVENANCE=${provenance}",
    ]
    List creds = []
    if (args.credentialsId) {
        creds << usernamePassword(credentialsId: args.credentialsId,
                                  usernameVariable: 'KILN_REGISTRY_USER',
                                  passwordVariable: 'KILN_REGISTRY_PASSWORD')
    }
    if (args.dockerConfigCredentialsId) {
        creds << file(credentialsId: args.dockerConfigCredentialsId, variable: 'KILN_DOCKER_CONFIG_FILE')
    }
    withEnv(settings) {
        if (creds) {
            withCredentials(creds) { runKiln() }
        } else {
            runKiln()
        }
    }
    String digest = readFile("${outDir}/digest").trim()
    List refs = readLines("${outDir}/image-refs")
    if (args.archive != false) {
        archiveArtifacts(artifacts: "${outDir}/*", fingerprint: true)
    }
    Map result = [digest: digest, ref: refs ? refs[0] : '', refs: refs]
    if (provenance) {
        List provenanceRefs = readLines("${outDir}/provenance-refs")
        List provenanceTags = readLines("${outDir}/provenance-tags")
        result.provenanceRef = provenanceRefs ? provenanceRefs[0] : ''
        result.provenanceRefs = provenanceRefs
        result.provenanceTag = provenanceTags ? provenanceTags[0] : ''
        result.provenanceTags = provenanceTags
    }
    return result
}

private List readLines(String path) {
    return readFile(path).readLines().collect { it.trim() }.findAll { it }
}

private void runKiln() {
    sh(script: 'python3 -m kiln.integrations jenkins', label: 'kiln build')
}

private List asList(value) {
    if (value == null) {
        return []
    }
    if (value instanceof CharSequence) {
        return value.toString().split(/[\s,]+/).findAll { it }
    }
    return value.collect { it.toString() }
}

private List keyValues(value) {
    if (value == null) {
        return []
    }
    if (value instanceof Map) {
        return value.collect { k, v -> "${k}=${v}".toString() }
    }
    return asList(value instanceof CharSequence ? [value] : value)
}

private String lines(List items, String what) {
    items.each { item ->
        if (item.contains('\n') || item.contains('\r')) {
            error("kilnBuild: ${what} values cannot contain line breaks")
        }
    }
    return items.join('\n')
}

private String extraArgs(value) {
    if (value == null) {
        return ''
    }
    List words = value instanceof CharSequence ? [value.toString()] : value.collect { it.toString() }
    // Quoted for kiln's shell-word split (POSIX single quotes), not for any shell: nothing runs them.
    return words.collect { "'" + it.replace("'", "'\"'\"'") + "'" }.join(' ')
}
