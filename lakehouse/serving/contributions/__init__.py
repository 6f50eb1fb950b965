"""Contributed data: files enterprises, citizens and other agencies offer, checked (:mod:`.scan`: format by
content, schema, personal data) and kept in the contributions area until a steward approves or rejects them
(:mod:`.store`); an approved one becomes a spec in ``lake_config/datasets/contributed/`` and runs through the lake
like the ministry's own data (`lake contributions approve`)."""
