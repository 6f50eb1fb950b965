"""The data portal `lake up portal` serves: search, dataset pages, downloads, DCAT and CKAN harvest endpoints."""
