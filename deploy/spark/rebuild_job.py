"""spark-submit entry point (EMR Serverless): ``changelake rebuild --runner spark`` with the job's
arguments.

The job's ``entryPointArguments`` are the command's options (``--archive s3://...``, ``--table``,
``--es-url``, ``--alias`` ...). The session is the cluster's (spark-submit sets the master), so
the archive is read as ``s3://`` with the job's role.
"""

import sys

from changelake.cli import cli

if __name__ == "__main__":
    arguments = ["rebuild", "--runner", "spark", "--silent", *sys.argv[1:]]
    sys.exit(cli(arguments, prog_name="changelake"))
