"""CI adapters: each platform's variables and files in, an ``executor`` command line out.

Why a separate layer: GitHub, GitLab, Tekton and Jenkins each spell inputs, credentials and outputs
differently, but all of them end in the same kaniko-compatible ``executor`` run. The platform files
(action.yml, GitLab templates, the Tekton Task, the Jenkins step) stay thin and call
``python3 -m kiln.integrations <platform> build``; the translation lives here, unit-tested.
Credentials always travel as a docker ``config.json`` in a private directory named by
``DOCKER_CONFIG``, never on a command line.
"""

from kiln.integrations.dockerconfig import RegistryLogin, docker_config_json, write_docker_config
from kiln.integrations.request import ExecutorRequest, split_lines, split_list
from kiln.integrations.run import BuildOutcome, run_executor

__all__ = [
    "BuildOutcome",
    "ExecutorRequest",
    "RegistryLogin",
    "docker_config_json",
    "run_executor",
    "split_lines",
    "split_list",
    "write_docker_config",
]
