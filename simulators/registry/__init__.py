"""The Stelselnode: publishes the MedMij lists and answers localisation queries."""
