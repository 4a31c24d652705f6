"""What puts records on the topics: publishing client, HTTP ingestion, questionnaire, simulator."""
