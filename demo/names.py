"""The cast of the demo: company and people names, titles, and the words of notes,
handoffs, escalations and survey comments. Text only; who does what is ``demo.simulation``."""

from accounts.choices import NoteKind, Persona
from journeys.choices import Severity

INDUSTRIES = [
    ("Software", 0.24), ("Financial services", 0.14), ("Healthcare", 0.11), ("Retail", 0.1),
    ("Manufacturing", 0.1), ("Education", 0.07), ("Media", 0.06), ("Logistics", 0.08),
    ("Professional services", 0.1),
]  # fmt: skip
NAME_A = [
    "Acme", "Northwind", "Bluefin", "Cobalt", "Lumen", "Harbor", "Pinecrest", "Vertex", "Quill",
    "Silverline", "Redwood", "Brightpath", "Orbit", "Summit", "Copperleaf", "Meridian", "Nimbus",
    "Atlas", "Keystone", "Falcon", "Juniper", "Granite", "Helix", "Beacon", "Crescent", "Driftwood",
    "Evergreen", "Foxglove", "Ironbridge", "Kestrel", "Larkspur", "Mosaic", "Nova", "Oakridge",
    "Prairie", "Radiant", "Sable", "Tidewater", "Upland", "Wildflower",
]  # fmt: skip
NAME_B = [
    "Analytics", "Health", "Logistics", "Labs", "Retail", "Capital", "Systems", "Foods", "Media",
    "Learning", "Robotics", "Energy", "Partners", "Software", "Bank", "Clinics", "Freight",
    "Studios", "Works", "Insurance",
]  # fmt: skip
FIRST = [
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
    "Noah", "Emma", "Liam", "Olivia", "Mia", "Lucas", "Sofia", "Ethan", "Zoe", "Mateo", "Aisha",
    "Chen", "Hana", "Ravi", "Lena", "Omar", "Ines", "Kofi", "Yuki", "Nina",
]  # fmt: skip
LAST = [
    "Smith", "Garcia", "Chen", "Müller", "Patel", "Kim", "Nguyen", "Johnson", "Rossi", "Silva",
    "Cohen", "Okoye", "Larsen", "Dubois", "Novak", "Tanaka", "Ali", "Brown", "Moreau", "Schmidt",
]  # fmt: skip
TITLES = {
    Persona.ADMIN: ["IT Administrator", "Operations Manager", "Platform Owner"],
    Persona.END_USER: ["Analyst", "Support Engineer", "Account Executive", "Coordinator"],
    Persona.CHAMPION: ["Head of Operations", "Director of Analytics", "Team Lead"],
    Persona.EXECUTIVE_SPONSOR: ["VP Operations", "Chief Operating Officer", "CTO"],
    Persona.BILLING: ["Finance Manager", "Procurement Lead"],
}
NOTE_TEXTS = {
    NoteKind.CALL: [
        "Check-in call: team happy with the new dashboards, asked about SSO.",
        "Call with the champion: budget review next quarter, wants an ROI summary.",
        "Support follow-up call; the export issue is fixed on their side.",
    ],
    NoteKind.MEETING: [
        "Quarterly business review: agreed goals for the next two quarters.",
        "Onboarding workshop with the admins; integrations configured together.",
        "Executive alignment meeting; sponsor asked for usage numbers per team.",
    ],
    NoteKind.EMAIL: [
        "Sent the renewal proposal and the usage summary.",
        "Shared training material for new end users.",
    ],
    NoteKind.NOTE: [
        "New team lead on their side; schedule an intro.",
        "Usage dropped after their reorg; keep an eye on it.",
    ],
}
# The default EscalationPolicy response deadlines (journeys migration 0003).
RESPONSE_HOURS = {Severity.CRITICAL: 4, Severity.HIGH: 24, Severity.MEDIUM: 72, Severity.LOW: 120}
HANDOFF_REASONS = [
    "Month-end reporting takes the team three days by hand.",
    "Their current tool cannot follow usage across regions.",
    "A new COO wants one view of operations.",
]
HANDOFF_PROBLEMS = [
    "Consolidate regional spreadsheets; automate the weekly report.",
    "Alerting on incidents reaches the wrong people.",
    "No one trusts the numbers in the board pack.",
]
HANDOFF_CRITERIA = [
    "Weekly report produced in under an hour by the end of Q1.",
    "All regional leads use the dashboards every week.",
    "Board pack generated from the product, no spreadsheets.",
]
ESCALATION_TITLES = [
    "Data sync failing since the last release",
    "Reports time out for the whole team",
    "SSO login broken for new users",
    "Billing dispute over seat count",
    "Integration with CRM drops records",
    "Executive unhappy with response times",
]
NPS_COMMENTS = {
    "promoter": ["Great product, the team relies on it daily.", "Support is excellent."],
    "passive": ["Does the job, reporting could be better.", "Fine, but onboarding took long."],
    "detractor": [
        "Too slow and too many bugs lately.",
        "We are not getting the value we expected.",
    ],
}
