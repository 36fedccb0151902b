"""DynamoDB Streams records -> change rows -> Parquet objects in the archive."""
