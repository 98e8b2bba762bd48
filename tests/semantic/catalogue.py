"""Items whose meanings are far apart (and two alike: the knives), for search tests."""

from __future__ import annotations

CATALOGUE = [
    (
        "Claw hammer, 16 oz",
        "Steel head and fibreglass handle for driving and pulling nails.",
        ["tools"],
    ),
    ("Summer dress", "Light cotton dress with short sleeves and a floral print.", ["clothing"]),
    ("Espresso machine", "Brews strong coffee with a 15 bar pump and a milk frother.", ["kitchen"]),
    ("Chef's knife", "20 cm stainless steel blade for chopping vegetables and meat.", ["kitchen"]),
    ("Bread knife", "Serrated blade that slices crusty loaves without crushing them.", ["kitchen"]),
    (
        "Garden hose, 30 m",
        "Kink-resistant hose with a spray nozzle for watering plants.",
        ["garden"],
    ),
    ("Desk lamp", "LED lamp with an adjustable arm and three brightness levels.", ["office"]),
    ("Hammock", "Cotton hammock for two that hangs between trees in the shade.", ["garden"]),
]
