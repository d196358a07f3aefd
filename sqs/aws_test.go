// SPDX-License-Identifier: Apache-2.0

package sqs_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// loadAWS loads the default AWS configuration chain (AWS_ENDPOINT_URL,
// AWS_REGION, credentials from the environment), as a user's program would.
func loadAWS() (aws.Config, error) {
	return config.LoadDefaultConfig(context.Background())
}
