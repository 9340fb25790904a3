"""A Wrenn webhook receiver as an AWS Lambda function."""
