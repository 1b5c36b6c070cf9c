#!/bin/sh
# Backups of one PostgreSQL database that count only once they have been restored.
#
# POSIX sh with the programs of the official postgres image (pg_dump, pg_dumpall, pg_restore, psql,
# initdb, pg_ctl) and its GNU coreutils; shipped in a ConfigMap and run by the image's sh, so there is
# no image to build. See docs/backups.md.
#
#   backup.sh run                                  the CronJob: dump, check, publish, prune
#   backup.sh verify DIR                           checksums, then a restore into a throwaway server
#   backup.sh restore NAME --yes-overwrite-DB      restore a verified backup into $PGDATABASE
#   backup.sh list                                 the verified backups, newest first, with sizes
#   backup.sh expired KEEP < NAMES                 which backups retention removes (pure)
#
# Connection: libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE (the exact name).
# Directories: BACKUP_DIR holds the backups; SCRATCH_DIR (run, verify) holds the throwaway server.
# BACKUP_KEEP (run): how many verified backups to keep.
set -eu

# The throwaway server listens only on a socket in SCRATCH_DIR.
CHECK_PORT=5432
# globals.sql's first line names the dumped cluster's bootstrap superuser (oid 10), whom the check
# server gets as its own: since PostgreSQL 16 only the bootstrap superuser may grant predefined
# roles such as pg_read_all_data, and pg_dumpall writes those grants `GRANTED BY` that name.
BOOTSTRAP_HEADER='-- Bootstrap superuser of the dumped cluster: '

# One line per table whose rows pg_dump saves, as `"schema.table": N`: sortable, comparable, and
# already a JSON object member for the manifest (to_json escapes any character a name may hold).
# Extension member tables are left out: pg_dump does not save their rows.
COUNT_ROWS="SELECT format('SELECT %L || '': '' || count(*) FROM %I.%I',
              to_json(format('%I.%I', n.nspname, c.relname))::text, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1 \gexec"

log() { printf '%s\n' "$*" >&2; }
fail() { log "backup: $*"; exit 1; }
refuse() { log "backup: $*"; exit 2; }

# --- pure: names, retention, manifest ---

# A published backup is a directory DATABASE-YYYYMMDDTHHMMSSZ: names sort in time order.
backup_pattern() { printf '^%s-[0-9]{8}T[0-9]{6}Z$' "$1"; }

# Reads backup names on stdin; prints those beyond the newest KEEP.
expired() { LC_ALL=C sort -r | awk -v keep="$1" 'NR > keep'; }

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; }

# manifest NAME DATABASE STARTED SECONDS VERIFIED CHECK SERVER CLIENT FILES COUNTS
#   FILES: lines `sha256 bytes name`; COUNTS: lines `"schema.table": N`. Prints the manifest.
manifest() (
    printf '{\n  "format": 1,\n'
    printf '  "name": %s,\n  "database": %s,\n' "$(json_string "$1")" "$(json_string "$2")"
    printf '  "startedAt": %s,\n  "durationSeconds": %s,\n' "$(json_string "$3")" "$4"
    printf '  "verified": %s,\n  "check": %s,\n' "$5" "$(json_string "$6")"
    printf '  "serverVersion": %s,\n  "client": %s,\n' "$7" "$(json_string "$8")"
    printf '  "files": [\n'
    awk '{ printf "%s    {\"name\": \"%s\", \"bytes\": %s, \"sha256\": \"%s\"}", (NR > 1 ? ",\n" : ""), $3, $2, $1 }
         END { print "" }' "$9"
    printf '  ],\n  "tables": {\n'
    awk '{ printf "%s    %s", (NR > 1 ? ",\n" : ""), $0 } END { print "" }' "${10}"
    printf '  }\n}\n'
)

# --- side effects ---

check_psql() { psql -X -q -v ON_ERROR_STOP=1 --host="$SCRATCH_DIR" --port="$CHECK_PORT" --username="$CHECK_USER" "$@"; }

stop_check_server() {
    pg_ctl --pgdata="$SCRATCH_DIR/pgdata" --mode=immediate --wait stop >/dev/null 2>&1 || true
    rm -rf "$SCRATCH_DIR/pgdata"
}

# A server of the same image, on a socket in SCRATCH_DIR, that durability settings need not protect.
start_check_server() {
    rm -rf "$SCRATCH_DIR/pgdata"
    if ! initdb --pgdata="$SCRATCH_DIR/pgdata" --username="$CHECK_USER" --auth=trust --encoding=UTF8 \
        --no-locale --no-sync >"$SCRATCH_DIR/initdb.log" 2>&1; then
        cat "$SCRATCH_DIR/initdb.log" >&2
        fail "could not create the throwaway server for the restore check"
    fi
    trap stop_check_server EXIT
    if ! pg_ctl --pgdata="$SCRATCH_DIR/pgdata" --log="$SCRATCH_DIR/server.log" --wait --timeout=120 \
        --options="-c listen_addresses= -c unix_socket_directories=$SCRATCH_DIR -p $CHECK_PORT -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c shared_buffers=32MB" \
        start >/dev/null; then
        tail -n 20 "$SCRATCH_DIR/server.log" >&2
        fail "the throwaway server for the restore check did not start"
    fi
}

# verify DIR: the checksums hold, and the dump restores (roles first) into a throwaway server with
# every table's row count equal to the count read in the dump's own snapshot.
verify() {
    dir=$1
    (cd "$dir" && sha256sum --check --quiet --strict SHA256SUMS >&2) || fail "$dir: files do not match SHA256SUMS"
    pg_restore --list "$dir/database.dump" >/dev/null || fail "$dir/database.dump is not a readable custom-format dump"
    CHECK_USER=$(sed -n "1s/^$BOOTSTRAP_HEADER//p" "$dir/globals.sql")
    [ -n "$CHECK_USER" ] || fail "$dir/globals.sql does not name the dumped cluster's bootstrap superuser on its first line"
    start_check_server
    # pg_dumpall creates every role, the bootstrap superuser too (its own comment: "it won't hurt
    # for the CREATE to fail"); with ON_ERROR_STOP it would, so that one line becomes a comment,
    # which keeps psql's line numbers those of the file. Its ALTER ROLE still runs.
    create="CREATE ROLE $(check_psql --no-align --tuples-only --dbname=postgres -c 'SELECT quote_ident(current_user)');"
    CREATE=$create awk '$0 == ENVIRON["CREATE"] { $0 = "-- exists already: " $0 } 1' "$dir/globals.sql" |
        check_psql --dbname=postgres >/dev/null || fail "$dir/globals.sql does not restore"
    pg_restore --host="$SCRATCH_DIR" --port="$CHECK_PORT" --username="$CHECK_USER" --dbname=postgres \
        --create --exit-on-error "$dir/database.dump" || fail "$dir/database.dump does not restore"
    printf '%s\n' "$COUNT_ROWS" | check_psql --no-align --tuples-only --dbname="$PGDATABASE" \
        | LC_ALL=C sort >"$SCRATCH_DIR/restored-counts"
    if ! cmp -s "$dir/row-counts" "$SCRATCH_DIR/restored-counts"; then
        log "row counts in the dump's snapshot (-) and in the restored copy (+):"
        diff "$dir/row-counts" "$SCRATCH_DIR/restored-counts" | grep '^[<>]' | sed 's/^</-/; s/^>/+/' >&2 || true
        fail "row counts of the restored copy differ from the dump's snapshot"
    fi
    log "backup: restored into a throwaway server; row counts of $(wc -l <"$dir/row-counts") tables equal the dump's snapshot"
}

# dump DIR: database.dump and row-counts from one REPEATABLE READ snapshot (pg_dump imports the
# snapshot this session exports, and the counts are read in the same transaction), then globals.sql.
dump() {
    {
        cat <<'SQL'
SET row_security = off;
-- This session waits idle in its transaction while pg_dump runs: no server-wide timeout may end it.
SET idle_in_transaction_session_timeout = 0;
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SELECT pg_export_snapshot() AS snapshot \gset
\setenv BACKUP_SNAPSHOT :snapshot
\! pg_dump --snapshot="$BACKUP_SNAPSHOT" --format=custom --lock-wait-timeout=60s --file="$BACKUP_OUT/database.dump" >&2 && : >"$BACKUP_OUT/.dumped"
SQL
        printf '%s\nCOMMIT;\n' "$COUNT_ROWS"
    } | BACKUP_OUT=$1 psql -X -q -v ON_ERROR_STOP=1 --no-align --tuples-only >"$1/row-counts.unsorted"
    [ -e "$1/.dumped" ] || fail "pg_dump failed"
    LC_ALL=C sort "$1/row-counts.unsorted" >"$1/row-counts"
    rm "$1/.dumped" "$1/row-counts.unsorted"
    # The stack's roles (dbUser, whom the image's initdb makes the bootstrap superuser) are plain
    # identifiers, so the name fits on the header's line.
    bootstrap=$(psql -X -q -v ON_ERROR_STOP=1 --no-align --tuples-only -c "SELECT rolname FROM pg_roles WHERE oid = 10")
    {
        printf '%s%s\n' "$BOOTSTRAP_HEADER" "$bootstrap"
        # --no-role-passwords: reading password hashes (pg_authid) takes a superuser, and hashes do not
        # belong on a second volume; `pulumi up` sets every role's password again after a rebuild.
        pg_dumpall --globals-only --no-role-passwords --database="$PGDATABASE"
    } >"$1/globals.sql"
}

# The published backups of $PGDATABASE (none is not an error).
backups() { ls -1 "$BACKUP_DIR" | { grep -E "$(backup_pattern "$PGDATABASE")" || true; }; }

prune() {
    backups | expired "$BACKUP_KEEP" |
        while IFS= read -r old; do
            rm -rf "${BACKUP_DIR:?}/$old"
            log "backup: removed $old (keeping the newest $BACKUP_KEEP)"
        done
}

run() {
    : "${BACKUP_DIR:?}" "${SCRATCH_DIR:?}" "${PGDATABASE:?}" "${BACKUP_KEEP:?}"
    case $BACKUP_KEEP in '' | *[!0-9]* | 0) refuse "BACKUP_KEEP must be a whole number of at least 1; got $BACKUP_KEEP" ;; esac
    begun=$(date -u +%s)
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    name=$PGDATABASE-$stamp
    [ ! -e "$BACKUP_DIR/$name" ] || fail "$BACKUP_DIR/$name exists already"
    # An interrupted run's files never got a final name: they are not backups.
    rm -rf "$BACKUP_DIR"/.partial-*
    work=$BACKUP_DIR/.partial-$name
    trap 'rm -rf "$work"' EXIT
    mkdir "$work"

    server=$(psql -X -At -v ON_ERROR_STOP=1 -c "SELECT to_json(current_setting('server_version'))")
    dump "$work"
    (cd "$work" && sha256sum database.dump globals.sql row-counts >SHA256SUMS)

    # A process of its own, so that `set -e` holds inside the check.
    if sh "$0" verify "$work" 2>"$SCRATCH_DIR/check.log"; then verified=true; else verified=false; fi
    cat "$SCRATCH_DIR/check.log" >&2
    check=$(tail -n 1 "$SCRATCH_DIR/check.log" | sed 's/^backup: //')

    while read -r sum file; do
        printf '%s %s %s\n' "$sum" "$(wc -c <"$work/$file")" "$file"
    done <"$work/SHA256SUMS" >"$SCRATCH_DIR/files"
    started=$(printf '%s' "$stamp" | sed 's/^\(....\)\(..\)\(..\)T\(..\)\(..\)/\1-\2-\3T\4:\5:/')
    manifest "$name" "$PGDATABASE" "$started" "$(($(date -u +%s) - begun))" "$verified" "$check" \
        "$server" "$(pg_dump --version)" "$SCRATCH_DIR/files" "$work/row-counts" >"$work/manifest.json.tmp"
    mv "$work/manifest.json.tmp" "$work/manifest.json"
    sync "$work"/* "$work"

    if [ "$verified" = false ]; then
        # Kept for inspection until the next failure; never a backup, never counted by retention.
        rm -rf "$BACKUP_DIR/failed"
        mkdir "$BACKUP_DIR/failed"
        mv "$work" "$BACKUP_DIR/failed/$name"
        printf '{"backup":"failed","name":"%s","kept":"failed/%s"}\n' "$name" "$name"
        exit 1
    fi
    # The one step that publishes: a rename on the same volume, so no half backup has a final name.
    mv "$work" "$BACKUP_DIR/$name"
    sync "$BACKUP_DIR"
    prune
    printf '{"backup":"succeeded","name":"%s","bytes":%s,"durationSeconds":%s}\n' \
        "$name" "$(wc -c <"$BACKUP_DIR/$name/database.dump")" "$(($(date -u +%s) - begun))"
}

restore() {
    : "${BACKUP_DIR:?}" "${PGDATABASE:?}"
    [ $# -eq 2 ] || refuse "usage: backup.sh restore NAME --yes-overwrite-$PGDATABASE"
    [ "$2" = "--yes-overwrite-$PGDATABASE" ] ||
        refuse "refusing to restore into database $PGDATABASE without --yes-overwrite-$PGDATABASE: it replaces every table the backup holds"
    printf '%s\n' "$1" | grep -Eq "$(backup_pattern "$PGDATABASE")" ||
        refuse "\"$1\" is not a backup name such as $PGDATABASE-20260101T021500Z"
    dir=$BACKUP_DIR/$1
    [ -d "$dir" ] || fail "no backup $1 in $BACKUP_DIR; there are: $(backups | tr '\n' ' ')"
    grep -q '"verified": true' "$dir/manifest.json" || fail "backup $1 did not pass its restore check; refusing"
    (cd "$dir" && sha256sum --check --quiet --strict SHA256SUMS >&2) || fail "backup $1 does not match its checksums; refusing"
    log "backup: restoring $1 into $PGDATABASE in one transaction"
    # One transaction: any error leaves the database as it was. A lock held elsewhere fails it after
    # a minute rather than stalling the application behind it.
    PGOPTIONS="-c lock_timeout=60s" pg_restore --clean --if-exists --single-transaction --exit-on-error \
        --dbname="$PGDATABASE" "$dir/database.dump" || fail "restore of $1 failed; the database is as it was"
    now=$(mktemp)
    printf '%s\n' "$COUNT_ROWS" | psql -X -q -v ON_ERROR_STOP=1 --no-align --tuples-only | LC_ALL=C sort >"$now"
    if grep -Fxv -f "$now" "$dir/row-counts" >&2; then
        rm -f "$now"
        fail "restored $1, but the row counts above differ from the backup's (was something writing meanwhile?)"
    fi
    rm -f "$now"
    printf '{"restore":"succeeded","name":"%s","database":"%s","tables":%s}\n' "$1" "$PGDATABASE" "$(wc -l <"$dir/row-counts")"
}

list() {
    : "${BACKUP_DIR:?}" "${PGDATABASE:?}"
    backups | LC_ALL=C sort -r |
        while IFS= read -r name; do
            printf '%s  %s bytes\n' "$name" "$(wc -c <"$BACKUP_DIR/$name/database.dump")"
        done
}

command=${1:-}
[ $# -gt 0 ] && shift
case $command in
    run) run ;;
    verify)
        [ $# -eq 1 ] || refuse "usage: backup.sh verify DIR"
        : "${SCRATCH_DIR:?}" "${PGDATABASE:?}"
        verify "$1"
        ;;
    restore) restore "$@" ;;
    list) list ;;
    expired) [ $# -eq 1 ] || refuse "usage: backup.sh expired KEEP"; expired "$1" ;;
    *) refuse "usage: backup.sh run | verify DIR | restore NAME --yes-overwrite-DATABASE | list | expired KEEP" ;;
esac
