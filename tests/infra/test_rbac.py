"""Every role assignment in rbac.bicep, as a table: who gets which built-in role on what. A new
assignment, a wider scope or another role fails here until the table (and infra/README.md, which
lists the same roles) says so."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep_files import MAIN_BICEP, module, parse, unwrap, variable

#: Built-in role definition ids, from Microsoft's "Azure built-in roles" page.
BUILT_IN_ROLES = {
    "blobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
    "blobDataContributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",  # Storage Blob Data Contributor
    "blobDataReader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",  # Storage Blob Data Reader
    "blobDelegator": "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",  # Storage Blob Delegator
    # Storage Table Data Contributor
    "tableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "serviceBusSender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",  # Azure Service Bus Data Sender
    "serviceBusReceiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",  # Azure Service Bus Data Receiver
    "serviceBusOwner": "090c5cfd-751d-490a-894a-3ce6f1109419",  # Azure Service Bus Data Owner
    "keyVaultSecretsOfficer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",  # Key Vault Secrets Officer
    "acrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",  # AcrPull
    "metricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",  # Monitoring Metrics Publisher
}

#: (principal parameter, role variable, scope); 'queues[i]' is each pool queue.
EXPECTED = {
    # The Function App: API, dead-letter handlers, job_events, webhook_deliveries.
    ("apiPrincipalId", "blobDataOwner", "hostAccount"),
    ("apiPrincipalId", "blobDataContributor", "scenes"),
    ("apiPrincipalId", "blobDataContributor", "jobs"),
    ("apiPrincipalId", "blobDataContributor", "webhooks"),
    ("apiPrincipalId", "blobDelegator", "dataAccount"),
    # The rate-limit counters every API instance shares, in their one table.
    ("apiPrincipalId", "tableDataContributor", "rateLimits"),
    # Usage totals (read by GET /api/usage, added to by a dead-lettered job's end) and budgets.
    ("apiPrincipalId", "tableDataContributor", "usage"),
    ("apiPrincipalId", "tableDataContributor", "budgets"),
    ("apiPrincipalId", "serviceBusSender", "queues[i]"),
    ("apiPrincipalId", "serviceBusReceiver", "queues[i]"),
    # The dashboard's Farm page: queue counts need Manage (Data Owner), on the pool queues only.
    ("apiPrincipalId", "serviceBusOwner", "queues[i]"),
    ("apiPrincipalId", "serviceBusSender", "eventsQueue"),
    ("apiPrincipalId", "serviceBusReceiver", "eventsQueue"),
    ("apiPrincipalId", "serviceBusSender", "webhookDeliveriesQueue"),
    ("apiPrincipalId", "serviceBusReceiver", "webhookDeliveriesQueue"),
    ("apiPrincipalId", "keyVaultSecretsOfficer", "vault"),
    ("apiPrincipalId", "metricsPublisher", "appInsights"),
    # The workers (one identity for every pool).
    ("workerPrincipalId", "blobDataReader", "scenes"),
    # ...and, by a condition, may delete a project file whose bytes do not hash to its name.
    ("workerPrincipalId", "blobDataContributor", "scenes"),
    ("workerPrincipalId", "blobDataContributor", "jobs"),
    ("workerPrincipalId", "serviceBusReceiver", "queues[i]"),
    # A chunk a spent budget holds is sent back to its queue, scheduled for later.
    ("workerPrincipalId", "serviceBusSender", "queues[i]"),
    ("workerPrincipalId", "serviceBusSender", "eventsQueue"),
    ("workerPrincipalId", "acrPull", "registry"),
    # Usage totals added to as chunks settle; budgets read before chunks start.
    ("workerPrincipalId", "tableDataContributor", "usage"),
    ("workerPrincipalId", "tableDataContributor", "budgets"),
    ("workerPrincipalId", "metricsPublisher", "appInsights"),
    # KEDA reads each pool queue's depth.
    ("scalerPrincipalId", "serviceBusOwner", "queues[i]"),
    # Whoever runs deploy.sh stores the first API key.
    ("deployerPrincipalId", "keyVaultSecretsOfficer", "vault"),
}


def scope_name(scope: Any) -> str:
    if isinstance(scope, str):
        return scope
    accessor = scope["operator"]
    assert accessor["type"] == "index_accessor", scope
    return f"{accessor['operands']['operand_1']}[{accessor['operands']['operand_2']}]"


def guid_base(name: Any) -> str:
    """The scope a guid(scope.id, principal, role) name is built on."""
    base = name["function"]["parameters"]["base_string"]["operator"]
    assert base["type"] == "property_accessor" and base["operands"]["operand_2"] == "id"
    return scope_name(base["operands"]["operand_1"])


def assignments() -> dict[str, dict[str, Any]]:
    doc = module("rbac")
    return {
        name: unwrap(res["config"])
        for name, res in doc["resources"].items()
        if res["type"] == "Microsoft.Authorization/roleAssignments"
    }


def row(body: dict[str, Any]) -> tuple[str, str, str]:
    role = body["properties"]["roleDefinitionId"]["function"]
    assert role["type"] == "subscription_resource_id"
    assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    return (
        body["properties"]["principalId"],
        role["parameters"]["resource_name_1"],
        scope_name(body["scope"]),
    )


def test_the_assignments_are_exactly_the_table() -> None:
    rows = [row(body) for body in assignments().values()]
    assert len(rows) == len(set(rows)), "an assignment is made twice"
    assert set(rows) == EXPECTED


@pytest.mark.parametrize("name", sorted(assignments()))
def test_each_assignment_is_named_by_its_scope_principal_and_role(name: str) -> None:
    body = assignments()[name]
    principal, role, scope = row(body)
    params = body["name"]["function"]["parameters"]
    assert guid_base(body["name"]) == scope
    assert (params["extra_string_1"], params["extra_string_2"]) == (principal, role)


def test_role_variables_are_the_built_in_role_ids() -> None:
    doc = module("rbac")
    used = {role for _, role, _ in EXPECTED}
    assert {name: variable(doc, name) for name in used} == {
        name: BUILT_IN_ROLES[name] for name in used
    }


def test_events_and_deliveries_scopes_are_the_queues_the_service_bus_module_made() -> None:
    """Passing the module's outputs also orders the assignments after the queues."""
    doc = module("rbac")
    for name, param in (
        ("eventsQueue", "eventsQueueName"),
        ("webhookDeliveriesQueue", "webhookDeliveriesQueueName"),
    ):
        existing = doc["resources"][name]
        assert existing["existing"] is True
        assert existing["type"] == "Microsoft.ServiceBus/namespaces/queues"
        assert existing["config"]["name"] == param
    params = parse(MAIN_BICEP)["modules"]["rbac"]["config"]["params"]
    for param in ("eventsQueueName", "webhookDeliveriesQueueName"):
        assert params[param] == {
            "operator": {
                "type": "property_accessor",
                "operands": {
                    "operand_1": "serviceBus",
                    "operand_2": {
                        "operator": {
                            "type": "property_accessor",
                            "operands": {"operand_1": "outputs", "operand_2": param},
                        }
                    },
                },
            }
        }, f"rbac's {param} is not serviceBus.outputs.{param}"


def test_the_webhooks_container_scope_is_the_data_accounts() -> None:
    existing = module("rbac")["resources"]["webhooks"]
    assert existing["existing"] is True
    assert existing["config"]["name"] == "${dataAccountName}/default/${webhooksContainer}"


def test_no_service_bus_role_is_held_on_the_whole_namespace() -> None:
    """Manage (Data Owner) is the widest Service Bus right: every holder gets it per queue, never
    on the namespace, where it would cover every queue, present and future."""
    for body in assignments().values():
        principal, role, scope = row(body)
        if role.startswith("serviceBus"):
            assert scope != "namespace", (principal, role)
            assert scope in {"queues[i]", "eventsQueue", "webhookDeliveriesQueue"}, scope


def test_the_queues_the_api_manages_are_the_ones_the_farm_page_reads() -> None:
    """The Farm page reads farm_queues(...): every chunk queue of every pool, the ones the
    service bus module makes and passes on as queueNames, which the Owner assignment loops over."""
    doc = module("rbac")
    owner = doc["resources"]["apiReadsQueueCounts"]["config"]
    assert owner["loop_type"]["detail"]["array_name"] == "queueNames"
    params = parse(MAIN_BICEP)["modules"]["rbac"]["config"]["params"]
    assert params["queueNames"]["operator"]["operands"]["operand_1"] == "serviceBus"


def test_the_workers_contributor_role_on_scenes_only_deletes_project_files() -> None:
    """The worker opens untrusted .blend files: on scenes it reads, and deletes only blobs under
    <tenant>/files/ (a file whose bytes do not hash to its name); every write stays denied."""
    body = assignments()["workerDeletesBadProjectFiles"]
    assert row(body) == ("workerPrincipalId", "blobDataContributor", "scenes")
    assert body["properties"]["conditionVersion"] == "2.0"
    condition = variable(module("rbac"), body["properties"]["condition"])
    blobs = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
    for denied in ("write", "add/action", "move/action", "tags/write", "delete"):
        assert f"!(ActionMatches{{'{blobs}/{denied}'}})" in condition, denied
    assert f"ActionMatches{{'{blobs}/delete'}}" in condition
    assert f"@Resource[{blobs}:path] StringLike '*/files/*'" in condition
