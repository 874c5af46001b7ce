"""Dashboard pages of the accounts app. Each view declares the roles it admits."""

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import render

from accounts.choices import AccountStatus, TouchModel
from accounts.models import Account
from cs_platform.roles import ALL_ROLES, role_required

PAGE_SIZE = 50
SORTS = {
    "name": "name",
    "-arr": "-arr",
    "arr": "arr",
    "renewal": "renewal_date",
    "-renewal": "-renewal_date",
}


@role_required(*ALL_ROLES)
def account_list(request):
    """The home page: the portfolio, searchable and filterable, one query for the rows."""
    params = request.GET
    accounts = Account.objects.select_related("owner", "journey")
    query = params.get("q", "").strip()
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(domain__icontains=query))
    if params.get("book") == "mine":
        accounts = accounts.filter(owner=request.user)
    status = params.get("status", AccountStatus.ACTIVE)
    if status in AccountStatus.values:
        accounts = accounts.filter(status=status)
    touch = params.get("touch", "")
    if touch in TouchModel.values:
        accounts = accounts.filter(touch_model=touch)
    sort = params.get("sort", "name")
    accounts = accounts.order_by(SORTS.get(sort, "name"), "id")
    page = Paginator(accounts, PAGE_SIZE).get_page(params.get("page"))
    return render(
        request,
        "accounts/account_list.html",
        {
            "page": page,
            "query": query,
            "book": params.get("book", ""),
            "status": status,
            "touch": touch,
            "sort": sort,
            "statuses": AccountStatus.choices,
            "touch_models": TouchModel.choices,
        },
    )
