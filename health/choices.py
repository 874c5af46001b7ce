from django.db import models


class Color(models.TextChoices):
    GREEN = "green", "Green"
    YELLOW = "yellow", "Yellow"
    RED = "red", "Red"


# Worst first: a move down this list is a deterioration.
COLOR_RANK = {Color.GREEN: 0, Color.YELLOW: 1, Color.RED: 2}


class Sentiment(models.IntegerChoices):
    VERY_NEGATIVE = 1, "Very negative"
    NEGATIVE = 2, "Negative"
    NEUTRAL = 3, "Neutral"
    POSITIVE = 4, "Positive"
    VERY_POSITIVE = 5, "Very positive"
