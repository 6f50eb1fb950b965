# The two commands of the README, and a few helpers.
# Everything installs itself on first use (see infra/bootstrap.sh) and is cached.

.PHONY: demo test unit integration bootstrap browser up down status clean-state

## demo: install what is missing, start the stack, run the admin_units pipeline, query gold in Trino
demo: bootstrap
	.venv/bin/lake demo

## test: unit tests and integration tests against a real S3, Spark, Trino and Airflow (own ports, own state),
## the portal's in a real Chromium; in two lanes side by side (infra/test-lanes.sh): the test stack's
## modules in one, the unit tests then the modules with servers of their own (the cluster's) in the other
test: bootstrap browser
	@bash infra/test-lanes.sh

unit: bootstrap
	.venv/bin/python -m pytest tests/unit

integration: bootstrap browser
	.venv/bin/python -m pytest tests/integration

bootstrap:
	@bash infra/bootstrap.sh

## browser: Debian's chromium and chromedriver for the portal's browser tests (apt, as root)
browser:
	@bash infra/browser.sh

up: bootstrap
	.venv/bin/lake up

down:
	.venv/bin/lake down

status:
	.venv/bin/lake status

## clean-state: stop the stack and delete local lake data (.lake/, and PostgreSQL's folder that
## .lake/postgres points to when root's postgres user could not enter .lake); caches are kept
clean-state: down
	@if [ -L .lake/postgres ]; then target=$$(readlink .lake/postgres); case "$$target" in \
	  /var/lib/lakehouse/postgres-*) echo "rm -rf $$target"; rm -rf "$$target";; \
	  *) echo "left alone: $$target (.lake/postgres points there; not a folder lake made)";; esac; fi
	rm -rf .lake
