from newsbench.cli import run

run()
