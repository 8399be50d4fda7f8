"""Standalone scripts that CalcJobs copy into their working directory and run there.

They import only the engine and ASE (not aiida-sei), so they run on any machine that has the
engine installed, a cluster node included.
"""

import pathlib

RUNNER_DIRECTORY = pathlib.Path(__file__).parent
