#!/usr/bin/env bash
# Prepares a local PostgreSQL 15 for Skiff's tests and benchmarks: installs it if absent (Debian),
# starts the cluster, and creates the role and database the tests use. Idempotent; needs root.
#
# The tests read SKIFF_TEST_PG_{HOST,PORT,USER,PASSWORD,DB}; the defaults below match them.
set -euo pipefail

PG_VERSION=15
PG_USER=${SKIFF_TEST_PG_USER:-skiff}
PG_PASSWORD=${SKIFF_TEST_PG_PASSWORD:-skiff}
PG_DB=${SKIFF_TEST_PG_DB:-skiff_test}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d "/usr/lib/postgresql/${PG_VERSION}/bin" ]; then
  echo "setup-postgres: installing postgresql-${PG_VERSION}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "postgresql-${PG_VERSION}" >/dev/null
fi

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "${PG_VERSION} main"; then
  pg_createcluster "${PG_VERSION}" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="${PG_VERSION}" '$1==v && $2=="main" {print $4}' | grep -qx online; then
  pg_ctlcluster "${PG_VERSION}" main start
fi

psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt "$@"; }

for _ in $(seq 1 30); do
  psql_admin -c 'SELECT 1' >/dev/null 2>&1 && break
  sleep 1
done

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '${PG_USER}'")" != "1" ]; then
  psql_admin -c "CREATE ROLE \"${PG_USER}\" LOGIN PASSWORD '${PG_PASSWORD}'"
else
  psql_admin -c "ALTER ROLE \"${PG_USER}\" LOGIN PASSWORD '${PG_PASSWORD}'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '${PG_DB}'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE \"${PG_DB}\" OWNER \"${PG_USER}\""
fi

echo "setup-postgres: PostgreSQL ${PG_VERSION} is up; database ${PG_DB} for role ${PG_USER} on 127.0.0.1:5432"
