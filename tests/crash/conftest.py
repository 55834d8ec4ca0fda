"""The crash tests reuse the publish tests' real servers (OpenSSH sshd on loopback)."""

from tests.publish.conftest import sshd  # noqa: F401  (a fixture, found by name)
