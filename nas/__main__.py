from nas.cli import run

run()
