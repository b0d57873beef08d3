"""The command line's exit codes besides 0 (done) and 1 (an unexpected error)."""

EXIT_SETTINGS = 2  # bad settings or arguments, or a request the store refused
EXIT_HOOKS = 3  # aiortc or aioice lack a hook the forwarder relies on
