"""The change-record format: Arrow schema, DynamoDB type codec, archive layout and SQL views."""
