"""The demo's people at our side: an admin, four CSMs who own the books, and a viewer."""

from concurrent.futures import ThreadPoolExecutor

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from cs_platform import roles

# username, first name, last name, role; CSMs own accounts by touch model (demo.simulation).
DEMO_USERS = [
    ("admin", "Ada", "Admin", roles.ADMIN),
    ("maya", "Maya", "Lopez", roles.CSM),
    ("jonas", "Jonas", "Berg", roles.CSM),
    ("priya", "Priya", "Natarajan", roles.CSM),
    ("sam", "Sam", "Okafor", roles.CSM),
    ("viewer", "Vic", "Viewer", roles.VIEWER),
]


def ensure_demo_users(password_for) -> list[tuple[str, str, str]]:
    """Create (or reset) the demo users; returns (username, role, password) to print.

    The six password hashes (PBKDF2, about 0.3 s each) are computed two at a time: hashlib
    releases the GIL, and they were a tenth of the seed's time."""
    User = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in roles.ALL_ROLES}
    passwords = [password_for(username) for username, *_ in DEMO_USERS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashes = list(pool.map(make_password, passwords))
    logins = []
    for (username, first, last, role), password, hashed in zip(
        DEMO_USERS, passwords, hashes, strict=True
    ):
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.example"},
        )
        user.is_staff = role == roles.ADMIN
        user.is_superuser = role == roles.ADMIN
        user.password = hashed
        user.save()
        user.groups.set([groups[role]])
        logins.append((username, role, password))
    return logins


def demo_users() -> dict:
    """{username: user} of the demo users (after ``ensure_demo_users``)."""
    names = [name for name, *_ in DEMO_USERS]
    return {u.username: u for u in get_user_model().objects.filter(username__in=names)}
