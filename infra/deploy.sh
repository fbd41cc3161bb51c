#!/usr/bin/env bash
# Deploy renderfarm into the signed-in Azure subscription: one command, safe to run again.
#
#   infra/deploy.sh [--resource-group NAME] [--location REGION] [--environment-name NAME]
#                   [--tenant NAME] [--image-tag TAG] [--what-if]
#
# Order: resource group, what-if preview, Bicep deployment, worker image (az acr build),
# Function code (zip honouring .funcignore), a first API key for --tenant (only its sha256
# hash goes to Key Vault; the key is printed once). --what-if previews and changes nothing.
set -euo pipefail

readonly DEPLOYMENT_NAME="renderfarm"
readonly IMAGE_REPOSITORY="renderfarm-worker"
readonly KEY_PURPOSE="renderfarm-api-key"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly TEMPLATE="infra/main.bicep"
readonly PARAMETERS="infra/main.parameters.json"

resource_group="renderfarm"
location="swedencentral"
environment_name="renderfarm"
tenant="default"
image_tag=""
what_if_only=false
PACKAGE_DIR=""
trap '[[ -z "$PACKAGE_DIR" ]] || rm -rf "$PACKAGE_DIR"' EXIT

usage() {
  cat <<'EOF'
Usage: infra/deploy.sh [options]

  -g, --resource-group NAME    resource group to create or update (default: renderfarm)
  -l, --location REGION        Azure region with Flex Consumption and Container Apps
                               (default: swedencentral)
  -e, --environment-name NAME  seeds the resource names (default: renderfarm)
  -t, --tenant NAME            tenant of the first API key (default: default)
      --image-tag TAG          worker image tag (default: the git commit, else a timestamp)
      --what-if                preview the deployment; create and change nothing
  -h, --help                   this text
EOF
}

die() {
  echo "deploy.sh: error: $*" >&2
  exit 1
}

log() {
  echo "==> $*" >&2
}

parse_args() {
  while (($# > 0)); do
    case "$1" in
      -g | --resource-group) resource_group="${2:?$1 needs a value}"; shift 2 ;;
      -l | --location) location="${2:?$1 needs a value}"; shift 2 ;;
      -e | --environment-name) environment_name="${2:?$1 needs a value}"; shift 2 ;;
      -t | --tenant) tenant="${2:?$1 needs a value}"; shift 2 ;;
      --image-tag) image_tag="${2:?$1 needs a value}"; shift 2 ;;
      --what-if) what_if_only=true; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
  done
  # The tenant becomes part of a Key Vault secret name and must satisfy the API's rule.
  [[ "$tenant" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] \
    || die "--tenant must be lower-case letters, digits and dashes, starting with a letter or digit"
}

require_tools() {
  command -v az >/dev/null 2>&1 \
    || die "the Azure CLI (az) is not on PATH: install it (https://aka.ms/InstallAzureCLI) and run 'az login'"
  command -v python3 >/dev/null 2>&1 \
    || die "python3 is not on PATH: it packages the Function code and makes the API key"
}

require_login() {
  az account show --output none 2>/dev/null \
    || die "the Azure CLI is not logged in: run 'az login' (and 'az account set --subscription ...')"
}

# Whoever runs this ("User" or "ServicePrincipal"), so the template lets them store the first key.
deployer_principal_type() {
  if [[ "$(az account show --query user.type --output tsv)" == "user" ]]; then
    echo "User"
  else
    echo "ServicePrincipal"
  fi
}

deployer_object_id() {
  if [[ "$DEPLOYER_TYPE" == "User" ]]; then
    az ad signed-in-user show --query id --output tsv
  else
    az ad sp show --id "$(az account show --query user.name --output tsv)" --query id --output tsv
  fi
}

default_image_tag() {
  git -C "$REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S
}

# The registry of an earlier run, if any: its login server, else nothing.
existing_registry() {
  az acr list --resource-group "$resource_group" \
    --query "[?tags.app=='renderfarm'] | [0].loginServer" --output tsv 2>/dev/null || true
}

deployment_args() {
  local image="$1"
  printf '%s\n' \
    --resource-group "$resource_group" \
    --name "$DEPLOYMENT_NAME" \
    --template-file "$TEMPLATE" \
    --parameters "@$PARAMETERS" \
    --parameters "environmentName=$environment_name" "location=$location" \
    "workerImage=$image" "deployerPrincipalId=$DEPLOYER_ID" \
    "deployerPrincipalType=$DEPLOYER_TYPE"
}

preview() {
  local image="$1" args
  mapfile -t args < <(deployment_args "$image")
  log "what-if: what the deployment would change in $resource_group"
  az deployment group what-if "${args[@]}"
}

deploy() {
  local image="$1" args
  mapfile -t args < <(deployment_args "$image")
  log "deploying $TEMPLATE to $resource_group (minutes)"
  az deployment group create "${args[@]}" --output none
}

# One deployment output, by name.
output() {
  az deployment group show --resource-group "$resource_group" --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.$1.value" --output tsv
}

build_worker_image() {
  local registry_name="$1"
  log "building $IMAGE_REPOSITORY:$image_tag in $registry_name (az acr build)"
  az acr build --registry "$registry_name" --image "$IMAGE_REPOSITORY:$image_tag" \
    --file containerapp_worker/Dockerfile . --output none
}

point_worker_at() {
  local image="$1" worker_name worker_kind
  worker_name="$(output workerName)"
  worker_kind="$(output workerKind)"
  log "switching $worker_name to $image"
  if [[ "$worker_kind" == "job" ]]; then
    az containerapp job update --resource-group "$resource_group" --name "$worker_name" \
      --image "$image" --output none
  else
    az containerapp update --resource-group "$resource_group" --name "$worker_name" \
      --image "$image" --output none
  fi
}

publish_function_code() {
  local function_app
  function_app="$(output functionAppName)"
  PACKAGE_DIR="$(mktemp -d)"
  python3 infra/package_function.py --root . --output "$PACKAGE_DIR/function.zip"
  log "publishing the Function code to $function_app (remote build installs requirements.txt)"
  az functionapp deployment source config-zip --resource-group "$resource_group" \
    --name "$function_app" --src "$PACKAGE_DIR/function.zip" --build-remote true --output none
}

# Prints "<key> <sha256hex>": the key as renderfarm.api_keys.new_key() makes them.
new_api_key() {
  python3 -c '
import hashlib, secrets
key = "rf_" + secrets.token_urlsafe(32)
print(key, hashlib.sha256(key.encode()).hexdigest())'
}

# Stores a first key for the tenant unless it has one; prints the key once, never logs it.
store_first_api_key() {
  local vault existing key digest key_id secret_name attempt
  vault="$(output keyVaultName)"
  existing="$(az keyvault secret list --vault-name "$vault" \
    --query "length([?tags.tenant=='$tenant' && tags.purpose=='$KEY_PURPOSE'])" --output tsv)"
  if [[ "$existing" != "0" ]]; then
    log "tenant '$tenant' already has an API key in $vault: none created (see infra/README.md to add one)"
    return 0
  fi
  read -r key digest < <(new_api_key)
  key_id="$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
  secret_name="apikey-$tenant-$key_id"
  log "storing the sha256 of a new API key for tenant '$tenant' as $vault/$secret_name"
  # A role assignment made minutes ago may not be in force yet: retry for a while.
  for attempt in 1 2 3 4 5 6; do
    if az keyvault secret set --vault-name "$vault" --name "$secret_name" \
      --value "$tenant=$digest" --content-type "tenant=sha256hex" \
      --tags "tenant=$tenant" "purpose=$KEY_PURPOSE" --output none; then
      API_KEY="$key"
      return 0
    fi
    log "Key Vault refused (attempt $attempt of 6); waiting for the role assignment"
    sleep "${RENDERFARM_DEPLOY_RETRY_SECONDS:-20}"
  done
  die "could not store the API key hash in $vault"
}

print_summary() {
  local api_url
  api_url="$(output apiUrl)"
  echo
  echo "renderfarm is deployed. API: $api_url"
  if [[ -n "${API_KEY:-}" ]]; then
    echo
    echo "API key for tenant '$tenant' (shown once; only its hash is stored):"
    echo "  $API_KEY"
    echo
    echo "Use it with the renderfarm CLI:"
    echo "  export RENDERFARM_API_URL=$api_url"
    echo "  export RENDERFARM_API_KEY=$API_KEY"
    echo "  renderfarm submit scene.blend --frames 1-250"
  else
    echo "Use it with the renderfarm CLI: export RENDERFARM_API_URL=$api_url and your API key."
  fi
}

main() {
  parse_args "$@"
  require_tools
  require_login
  cd "$REPO_ROOT"
  image_tag="${image_tag:-$(default_image_tag)}"
  DEPLOYER_TYPE="$(deployer_principal_type)"
  DEPLOYER_ID="$(deployer_object_id)"

  if [[ "$what_if_only" == true ]]; then
    if [[ "$(az group exists --name "$resource_group")" != "true" ]]; then
      log "would create resource group $resource_group in $location, then deploy $TEMPLATE into it"
      log "what-if of the resources needs the group: run without --what-if, or create the group first"
      return 0
    fi
    local registry
    registry="$(existing_registry)"
    preview "${registry:+$registry/$IMAGE_REPOSITORY:$image_tag}"
    log "--what-if: nothing was changed"
    return 0
  fi

  log "resource group $resource_group in $location"
  az group create --name "$resource_group" --location "$location" \
    --tags app=renderfarm "environment=$environment_name" --output none

  # Later runs build the image first, so the deployment itself rolls the worker forward;
  # the first run deploys a placeholder, builds, then switches the worker to the image.
  local registry image=""
  registry="$(existing_registry)"
  if [[ -n "$registry" ]]; then
    build_worker_image "${registry%%.*}"
    image="$registry/$IMAGE_REPOSITORY:$image_tag"
  fi
  preview "$image"
  deploy "$image"
  if [[ -z "$image" ]]; then
    build_worker_image "$(output registryName)"
    point_worker_at "$(output registryLoginServer)/$IMAGE_REPOSITORY:$image_tag"
  fi

  publish_function_code
  store_first_api_key
  print_summary
}

main "$@"
