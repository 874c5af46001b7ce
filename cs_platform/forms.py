from django import forms
from django.contrib.auth import get_user_model

from cs_platform.models import Scope


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'Segment prod'.")
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
        help_text="Requests made with the token act as this user.",
    )
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    rate_limit_per_minute = forms.IntegerField(
        min_value=1, required=False, help_text="Empty: the default limit."
    )
