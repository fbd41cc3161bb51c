#!/usr/bin/env bash
# Deploy renderfarm into the signed-in Azure subscription: one command, safe to run again.
#
#   infra/deploy.sh [--resource-group NAME] [--location REGION] [--environment-name NAME]
#                   [--tenant NAME] [--image-tag TAG] [--what-if]
#
# Order: resource group, what-if preview, Bicep deployment, one worker image per Blender pool
# (az acr build), Function code (zip honouring .funcignore), a first API key for --tenant (only
# its sha256 hash goes to Key Vault; the key is printed once). --what-if previews and changes
# nothing. Several farms may share a resource group: each is its --environment-name, which names
# its deployment and tags its resources (environment=<name>), and the script only picks those.
set -euo pipefail

readonly IMAGE_REPOSITORY="renderfarm-worker"
readonly KEY_PURPOSE="renderfarm-api-key"
# One pool per file: <major.minor>.txt pins its bpy; its first line is '# python: X.Y'.
readonly POOLS_DIR="containerapp_worker/blender-pools"
# Calls that wait on role assignments this deployment has just made are tried this often.
readonly RETRY_ATTEMPTS=6

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
      --image-tag TAG          worker image tag; each pool's image is
                               renderfarm-worker:<TAG>-blender-<version>
                               (default: the git commit, else a timestamp)
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

# Runs "$@" until it succeeds, RETRY_ATTEMPTS times at most: a role assignment made by the
# deployment takes minutes to reach Key Vault, the registry and the deployment storage.
retry() {
  local what="$1" attempt
  shift
  for ((attempt = 1; attempt <= RETRY_ATTEMPTS; attempt++)); do
    if "$@"; then
      return 0
    fi
    if ((attempt < RETRY_ATTEMPTS)); then
      log "$what failed (attempt $attempt of $RETRY_ATTEMPTS); waiting for the role assignments"
      sleep "${RENDERFARM_DEPLOY_RETRY_SECONDS:-20}"
    fi
  done
  die "$what failed $RETRY_ATTEMPTS times (see the az error above)"
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

# The Blender pools, one per file in POOLS_DIR ("4.5", "5.3", ...).
read_blender_versions() {
  local file version
  for file in "$POOLS_DIR"/*.txt; do
    version="$(basename "$file" .txt)"
    [[ "$version" =~ ^[0-9]+\.[0-9]+$ ]] \
      || die "$file: a pool file is named <major.minor>.txt"
    echo "$version"
  done | sort
}

# The Python a pool's bpy ships for: the first line of its file, '# python: X.Y'.
pool_python() {
  local file="$POOLS_DIR/$1.txt" python
  python="$(sed -n '1s/^# python: *//p' "$file")"
  [[ "$python" =~ ^[0-9]+\.[0-9]+$ ]] || die "$file: the first line must be '# python: X.Y'"
  echo "$python"
}

# The pools as the Bicep's blenderVersions parameter: ["4.5","5.3"].
blender_versions_json() {
  local version json=""
  for version in "${BLENDER_VERSIONS[@]}"; do
    json+="${json:+,}\"$version\""
  done
  echo "[$json]"
}

# The image of a pool; the Bicep's containerapps module builds the same reference.
pool_image() {
  echo "$1/$IMAGE_REPOSITORY:$image_tag-blender-$2"
}

# This farm's registry from an earlier run, if any: its login server, else nothing. Picked by the
# farm's own tag, so another farm in the same resource group is never touched.
existing_registry() {
  az acr list --resource-group "$resource_group" \
    --query "[?tags.app=='renderfarm' && tags.environment=='$environment_name'] | [0].loginServer" \
    --output tsv 2>/dev/null || true
}

deployment_args() {
  local tag="$1"
  printf '%s\n' \
    --resource-group "$resource_group" \
    --name "$DEPLOYMENT_NAME" \
    --template-file "$TEMPLATE" \
    --parameters "@$PARAMETERS" \
    --parameters "environmentName=$environment_name" "location=$location" \
    "blenderVersions=$(blender_versions_json)" "workerImageTag=$tag" \
    "deployerPrincipalId=$DEPLOYER_ID" "deployerPrincipalType=$DEPLOYER_TYPE"
}

preview() {
  local tag="$1" args
  mapfile -t args < <(deployment_args "$tag")
  log "what-if: what the deployment would change in $resource_group"
  az deployment group what-if "${args[@]}"
}

deploy() {
  local tag="$1" args
  mapfile -t args < <(deployment_args "$tag")
  log "deploying $TEMPLATE to $resource_group as $DEPLOYMENT_NAME (minutes)"
  az deployment group create "${args[@]}" --output none
}

# A JMESPath query on this farm's deployment outputs.
deployment_query() {
  az deployment group show --resource-group "$resource_group" --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.$1" --output tsv
}

# One deployment output, by name.
output() {
  deployment_query "$1.value"
}

# The worker app (or job) of a pool.
worker_name() {
  deployment_query "workerNames.value[?blenderVersion=='$1'] | [0].name"
}

build_worker_images() {
  local registry_name="$1" version python
  for version in "${BLENDER_VERSIONS[@]}"; do
    python="$(pool_python "$version")"
    log "building $IMAGE_REPOSITORY:$image_tag-blender-$version (Python $python) in $registry_name (az acr build)"
    az acr build --registry "$registry_name" --image "$IMAGE_REPOSITORY:$image_tag-blender-$version" \
      --build-arg "BLENDER=$version" --build-arg "PYTHON=$python" \
      --file containerapp_worker/Dockerfile . --output none
  done
}

# The first run deploys a placeholder image; this switches each pool to its own image. Its first
# revision pulls with AcrPull granted minutes ago, so the update is retried.
point_workers_at() {
  local login_server="$1" worker_kind version worker image
  worker_kind="$(output workerKind)"
  for version in "${BLENDER_VERSIONS[@]}"; do
    worker="$(worker_name "$version")"
    [[ -n "$worker" ]] || die "the deployment has no worker for Blender $version"
    image="$(pool_image "$login_server" "$version")"
    log "switching $worker to $image"
    if [[ "$worker_kind" == "job" ]]; then
      retry "updating $worker" az containerapp job update --resource-group "$resource_group" \
        --name "$worker" --image "$image" --output none
    else
      retry "updating $worker" az containerapp update --resource-group "$resource_group" \
        --name "$worker" --image "$image" --output none
    fi
  done
}

# The Functions host reads its package with Blob Data Owner granted by this deployment: retried.
publish_function_code() {
  local function_app
  function_app="$(output functionAppName)"
  PACKAGE_DIR="$(mktemp -d)"
  python3 infra/package_function.py --root . --output "$PACKAGE_DIR/function.zip"
  log "publishing the Function code to $function_app (remote build installs requirements.txt)"
  retry "publishing the Function code" az functionapp deployment source config-zip \
    --resource-group "$resource_group" --name "$function_app" --src "$PACKAGE_DIR/function.zip" \
    --build-remote true --output none
}

# Prints "<key> <key id> <secret name> <tenant=sha256hex>", made as `renderfarm keys create`
# makes them (renderfarm/keys/new_key.py: the standard library only, so any python3 runs it).
new_api_key() {
  (cd "$REPO_ROOT" && python3 -m renderfarm.keys.new_key "$tenant")
}

# Stores a first key for the tenant unless it has one; prints the key once, never logs it. Both
# Key Vault calls use Key Vault Secrets Officer, granted to the deployer minutes ago: retried.
store_first_api_key() {
  local vault existing key key_id secret_name value
  vault="$(output keyVaultName)"
  existing="$(retry "listing the API keys in $vault" az keyvault secret list --vault-name "$vault" \
    --query "length([?tags.tenant=='$tenant' && tags.purpose=='$KEY_PURPOSE'])" --output tsv)"
  if [[ "$existing" != "0" ]]; then
    log "tenant '$tenant' already has an API key in $vault: none created (see infra/README.md to add one)"
    return 0
  fi
  read -r key key_id secret_name value < <(new_api_key)
  [[ -n "$value" ]] || die "could not make an API key (python3 -m renderfarm.keys.new_key)"
  log "storing the sha256 of a new API key for tenant '$tenant' as $vault/$secret_name"
  retry "storing the API key hash in $vault" az keyvault secret set --vault-name "$vault" \
    --name "$secret_name" --value "$value" --content-type "tenant=sha256hex" \
    --tags "tenant=$tenant" "key-id=$key_id" "purpose=$KEY_PURPOSE" --output none
  API_KEY="$key"
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
  # The farm's name names its deployment: two farms in one resource group keep theirs apart.
  DEPLOYMENT_NAME="$environment_name"
  local versions
  versions="$(read_blender_versions)"  # a substitution, so that a bad pool file stops the run
  [[ -n "$versions" ]] || die "no Blender pool in $POOLS_DIR"
  mapfile -t BLENDER_VERSIONS <<<"$versions"
  local version
  for version in "${BLENDER_VERSIONS[@]}"; do
    pool_python "$version" >/dev/null  # each pool names its Python before anything changes
  done
  log "Blender pools: ${BLENDER_VERSIONS[*]}"
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
    preview "${registry:+$image_tag}"
    log "--what-if: nothing was changed"
    return 0
  fi

  log "resource group $resource_group in $location"
  az group create --name "$resource_group" --location "$location" \
    --tags app=renderfarm "environment=$environment_name" --output none

  # Later runs build the images first, so the deployment itself rolls every pool forward; the
  # first run deploys a placeholder, builds, then switches each pool to its image.
  local registry tag=""
  registry="$(existing_registry)"
  if [[ -n "$registry" ]]; then
    build_worker_images "${registry%%.*}"
    tag="$image_tag"
  fi
  preview "$tag"
  deploy "$tag"
  if [[ -z "$tag" ]]; then
    build_worker_images "$(output registryName)"
    point_workers_at "$(output registryLoginServer)"
  fi

  publish_function_code
  store_first_api_key
  print_summary
}

main "$@"
