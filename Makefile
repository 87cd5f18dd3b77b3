.PHONY: setup run test bench lint
setup:
	python3 tasks.py setup
run:
	python3 tasks.py run
test:
	python3 tasks.py test
bench:
	python3 tasks.py bench
lint:
	.venv/bin/ruff check .
