"""`{% load console %}`: the console's one way to write an instant in a template, `{{ value|moment }}` (core/admin_format.py)."""

from django import template

from core.admin_format import moment as moment_text

register = template.Library()


@register.filter
def moment(value):
    return moment_text(value)
