"""Title and body templates of actions: Django's template language over a small, plain context.

The context holds strings and numbers only (no model instances, so no method calls or
queries from a template), and only a few harmless tags are allowed. Output is plain text:
pages escape it when they show it, Slack messages escape their variables (see actions.py).
"""

from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TokenType

ALLOWED_TAGS = {
    "if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith",
    "firstof", "comment", "endcomment", "now", "spaceless", "endspaceless",
}  # fmt: skip

_engine = Engine(autoescape=False, string_if_invalid="", libraries={}, loaders=[])


class TemplateError(ValueError):
    """A template that does not parse or uses a tag outside the allowed few."""


def check_template(source: str) -> None:
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            tag = token.split_contents()[0] if token.contents.strip() else ""
            if tag not in ALLOWED_TAGS:
                raise TemplateError(f"The tag {{% {tag} %}} is not allowed in templates.")
    try:
        _engine.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"The template does not render: {exc}") from None


def render(source: str, context: dict) -> str:
    check_template(source)
    return _engine.from_string(source).render(Context(context, autoescape=False)).strip()


def account_context(account, *, stage: str = "", health=None) -> dict:
    """The variables a template may use about an account: plain values only."""
    owner = account.owner
    return {
        "name": account.name,
        "external_id": account.external_id,
        "domain": account.domain,
        "plan": account.plan,
        "industry": account.industry,
        "touch_model": account.touch_model,
        "arr": str(account.arr),
        "currency": account.currency,
        "employee_count": account.employee_count,
        "renewal_date": account.renewal_date.isoformat() if account.renewal_date else "",
        "owner": (owner.get_full_name() or owner.username) if owner else "",
        "owner_email": owner.email if owner else "",
        "stage": stage,
        "health_color": health.color if health else "",
        "health_score": round(health.score) if health else "",
    }


def run_context(run, account_vars: dict) -> dict:
    return {
        "account": account_vars,
        "playbook": {"name": run.playbook.name},
        "run": {
            "id": run.pk,
            "explanation": run.explanation,
            "occurred_at": run.occurred_at.isoformat(),
            "trigger": run.trigger_kind,
        },
        "trigger": {k: v for k, v in run.facts.items() if isinstance(v, str | int | float)},
    }


SAMPLE_CONTEXT = {
    "account": dict.fromkeys(
        ["name", "external_id", "domain", "plan", "industry", "touch_model", "arr", "currency",
         "employee_count", "renewal_date", "owner", "owner_email", "stage", "health_color",
         "health_score"], "x",
    ),
    "playbook": {"name": "x"},
    "run": {"id": 1, "explanation": "x", "occurred_at": "x", "trigger": "x"},
    "trigger": {},
}  # fmt: skip
