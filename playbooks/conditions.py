"""A playbook's conditions as one queryset filter over accounts (and a persona check)."""

from django.db.models import Q

from accounts.models import Account


def segment_q(
    *, plans=(), touch_models=(), industries=(), arr_min=None, arr_max=None,
    employees_min=None, employees_max=None,
) -> Q:  # fmt: skip
    """Accounts of a segment; empty filters match everything."""
    q = Q()
    if plans:
        q &= Q(plan__in=plans)
    if touch_models:
        q &= Q(touch_model__in=touch_models)
    if industries:
        q &= Q(industry__in=industries)
    if arr_min is not None:
        q &= Q(arr__gte=arr_min)
    if arr_max is not None:
        q &= Q(arr__lte=arr_max)
    if employees_min is not None:
        q &= Q(employee_count__gte=employees_min)
    if employees_max is not None:
        q &= Q(employee_count__lte=employees_max)
    return q


def conditions_q(playbook, owner_ids=None) -> Q:
    """The account conditions of ``playbook`` (owner ids may be passed to save a query)."""
    q = segment_q(
        plans=playbook.plans,
        touch_models=playbook.touch_models,
        industries=playbook.industries,
        arr_min=playbook.arr_min,
        arr_max=playbook.arr_max,
        employees_min=playbook.employees_min,
        employees_max=playbook.employees_max,
    )
    owners = owner_ids if owner_ids is not None else [u.pk for u in playbook.owners.all()]
    if owners:
        q &= Q(owner_id__in=owners)
    if playbook.stages:
        q &= Q(journey__stage__in=playbook.stages)
    if playbook.health_colors:
        q &= Q(health__color__in=playbook.health_colors)
    return q


def matching_account_ids(playbook, account_ids) -> set[int]:
    """Which of ``account_ids`` meet the playbook's account conditions: one query."""
    q = conditions_q(playbook)
    if not q:
        return set(account_ids)
    return set(Account.objects.filter(q, pk__in=list(account_ids)).values_list("pk", flat=True))


def segment_params_q(params: dict) -> Q:
    """The segment of a segment-entered trigger, from its params."""
    return segment_q(
        plans=params.get("segment_plans", []),
        touch_models=params.get("segment_touch_models", []),
        industries=params.get("segment_industries", []),
        arr_min=params.get("segment_arr_min"),
        arr_max=params.get("segment_arr_max"),
        employees_min=params.get("segment_employees_min"),
        employees_max=params.get("segment_employees_max"),
    )


def persona_matches(playbook, facts: dict) -> bool:
    """The persona condition: only occurrences caused by a contact of those personas."""
    return not playbook.personas or facts.get("persona") in playbook.personas
