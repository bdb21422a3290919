// kilnPodYaml: the pod for podTemplate(yaml: kilnPodYaml(image: '<kiln debug image>')), with a
// container named 'kiln' to run kilnBuild in.
def call(Map args = [:]) {
    if (!args.image) {
        error('kilnPodYaml: image is required (kiln\'s debug image, which has a shell)')
    }
    String image = args.image.toString()
    if (!(image ==~ /[A-Za-z0-9._\/:@-]+/)) {
        error("kilnPodYaml: not an image reference: ${image}")
    }
    return libraryResource('io/kiln/pod.yaml').replace('@KILN_IMAGE@', image)
}
