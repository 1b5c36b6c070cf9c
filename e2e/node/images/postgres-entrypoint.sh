#!/bin/bash
# The entrypoint of the e2e's local stand-in for the official `postgres` image, written
# for this project to that image's documented contract (its own script is not copied):
#
# - Arguments that start with "-" are options of `postgres`; `postgres ...` is the server.
#   Anything else is run as given.
# - As root, it fixes the owner of PGDATA and the socket directory and re-runs itself as
#   `postgres` (uid 999); as any other uid it runs as that uid.
# - On an empty PGDATA (no PG_VERSION): initdb as POSTGRES_USER (default `postgres`) with
#   POSTGRES_PASSWORD and POSTGRES_INITDB_ARGS (and POSTGRES_INITDB_WALDIR); a pg_hba.conf
#   line `host all all all $POSTGRES_HOST_AUTH_METHOD` (default scram-sha-256); a
#   temporary server on the Unix socket only creates POSTGRES_DB (default POSTGRES_USER)
#   and runs /docker-entrypoint-initdb.d/ (*.sh sourced or run, *.sql, *.sql.gz); it is
#   stopped and the real server is exec'd.
# - On a PGDATA that holds a cluster: nothing of the above, the server starts as it is.
# - The `_FILE` variants (POSTGRES_PASSWORD_FILE, ...) are read as the official one does.
set -Eeo pipefail

log() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# POSTGRES_X_FILE → POSTGRES_X (never both).
file_env() {
    local var=$1 file_var="${1}_FILE" def=${2:-}
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        die "both $var and $file_var are set (but are exclusive)"
    fi
    local val=$def
    if [[ -n "${!var:-}" ]]; then
        val=${!var}
    elif [[ -n "${!file_var:-}" ]]; then
        val=$(<"${!file_var}")
    fi
    export "$var"="$val"
    unset "$file_var"
}

# Options that only print something: no set-up.
wants_help() {
    local arg
    for arg; do
        case "$arg" in
            -'?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    DATABASE_ALREADY_EXISTS=
    if [[ -s "$PGDATA/PG_VERSION" ]]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

create_dirs() {
    local user
    user=$(id -u)
    mkdir -p "$PGDATA"
    # Ignored where the directory is not ours (a mounted volume of another owner).
    chmod 00700 "$PGDATA" || :
    mkdir -p /var/run/postgresql || :
    chmod 03775 /var/run/postgresql || :
    if [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]]; then
        mkdir -p "$POSTGRES_INITDB_WALDIR"
        [[ "$user" == 0 ]] && find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
        chmod 700 "$POSTGRES_INITDB_WALDIR"
    fi
    if [[ "$user" == 0 ]]; then
        find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
        find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
    fi
}

check_password() {
    if [[ -z "$DATABASE_ALREADY_EXISTS" && -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != trust ]]; then
        die "Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password
       (not recommended)."
    fi
}

init_database() {
    # A uid without a passwd entry (an arbitrary --user): give initdb one through nss_wrapper
    # is what the official image does; this stand-in has no nss_wrapper and needs the entry.
    if ! getent passwd "$(id -u)" >/dev/null; then
        die "uid $(id -u) has no passwd entry in this image (the official one uses nss_wrapper here)"
    fi
    if [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]]; then
        set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
    fi
    # The password goes through a file descriptor, never a command line.
    # shellcheck disable=SC2086
    eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "$@"'
}

setup_hba() {
    local method=${POSTGRES_HOST_AUTH_METHOD:-}
    if [[ -z "$method" ]]; then
        method=$(postgres -C password_encryption "$@")
        [[ -n "$method" ]] || method=scram-sha-256
    fi
    if [[ "$method" == trust ]]; then
        log "warning: POSTGRES_HOST_AUTH_METHOD=trust: every connection is allowed without a password"
    fi
    printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

temp_server_start() {
    # On the Unix socket only, as the official image: clients (and probes over TCP) see
    # no server until the set-up is complete.
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "$(printf '%q ' -c listen_addresses='' -p "${PGPORT:-5432}" "$@")" -w start
}

temp_server_stop() {
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
}

psql_setup() {
    PGHOST= PGHOSTADDR= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

create_db() {
    if [[ "$POSTGRES_DB" != postgres ]]; then
        local exists
        exists=$(POSTGRES_DB= psql_setup --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'SQL'
			SELECT 1 FROM pg_database WHERE datname = :'db';
		SQL
        )
        if [[ -z "${exists// /}" ]]; then
            psql_setup --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
				CREATE DATABASE :"db";
			SQL
            log
        fi
    fi
}

process_init_files() {
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] || continue
        case "$f" in
            *.sh)
                if [[ -x "$f" ]]; then
                    log "$0: running $f"
                    "$f"
                else
                    log "$0: sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql) log "$0: running $f"; psql_setup --dbname "$POSTGRES_DB" -f "$f"; log ;;
            *.sql.gz) log "$0: running $f"; gunzip -c "$f" | psql_setup --dbname "$POSTGRES_DB"; log ;;
            *) log "$0: ignoring $f" ;;
        esac
    done
}

main() {
    if [[ "${1:0:1}" == - ]]; then
        set -- postgres "$@"
    fi
    if [[ "$1" != postgres ]] || wants_help "$@"; then
        exec "$@"
    fi
    setup_env
    create_dirs
    if [[ "$(id -u)" == 0 ]]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
    fi
    if [[ -z "$DATABASE_ALREADY_EXISTS" ]]; then
        check_password
        init_database
        setup_hba "${@:2}"
        export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
        temp_server_start "${@:2}"
        create_db
        process_init_files
        temp_server_stop
        unset PGPASSWORD
        log
        log "PostgreSQL init process complete; ready for start up."
        log
    else
        log
        log "PostgreSQL Database directory appears to contain a database; Skipping initialization"
        log
    fi
    exec "$@"
}

main "$@"
