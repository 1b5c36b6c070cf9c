#!/usr/bin/env bash
# Runs the Pulumi CLI on a stack of this project (default: dev) without a Pulumi Cloud account:
# state goes to a local file backend in .pulumi-state/ unless PULUMI_BACKEND_URL says otherwise,
# and the dev stack's secrets open with the documented dev passphrase unless PULUMI_CONFIG_PASSPHRASE is set.
# Run through npm (`npm run up`, `npm run pulumi -- <command>`), the Pulumi program runs on the
# project's pinned Node.js, which npm puts first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pulumi >/dev/null 2>&1; then
    echo "error: the Pulumi CLI is not installed; see https://www.pulumi.com/docs/iac/download-install/" >&2
    exit 127
fi

stack="${PULUMI_STACK:-dev}"
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
    mkdir -p .pulumi-state
    export PULUMI_BACKEND_URL="file://$PWD/.pulumi-state"
fi
if [ "$stack" = dev ] && [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    # Protects only the committed example values of the dev stack; see README "Secrets".
    export PULUMI_CONFIG_PASSPHRASE="workshop-dev"
fi

pulumi stack select "$stack" --create --secrets-provider passphrase --non-interactive >/dev/null

# The commands that connect to PostgreSQL run inside the tunnel (tunnel/main.ts): the API server's
# port-forward to the Ready pod on 127.0.0.1:<tunnelPort>, for as long as the command runs, so that
# the deletes the engine makes after the program has ended reach the database too.
# `npm run tunnel` runs it alone, for `pulumi` run by hand in another terminal.
tunnel=(node "$PWD/node_modules/ts-node/dist/bin.js" --transpile-only "$PWD/tunnel/main.ts" --stack "$stack")
case "${1:-}" in
    tunnel) exec "${tunnel[@]}" ;;
    preview | up | update | refresh | destroy | import | watch) exec "${tunnel[@]}" -- pulumi "$@" --stack "$stack" ;;
    *) exec pulumi "$@" --stack "$stack" ;;
esac
