// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// startCheckTimeout bounds the start-up check of credentials, queues and
// topics, so that a bad configuration ends the process within seconds.
const startCheckTimeout = 15 * time.Second

// checkAWS verifies, before serving, that AWS credentials can be found and
// that every queue and topic named exists and can be read. Its error names
// the first queue or topic that failed.
func checkAWS(ctx context.Context, cfg aws.Config, queues map[string]string, topics map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if cfg.Credentials == nil {
		return errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("no usable AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role): %w", err)
	}
	fewRetries := func(o *awssqs.Options) { o.RetryMaxAttempts = 2 }
	sq := awssqs.NewFromConfig(cfg, fewRetries)
	for _, what := range sortedKeys(queues) {
		url := queues[what]
		if url == "" {
			continue
		}
		_, err := sq.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return fmt.Errorf("%s %s does not exist or cannot be read: %w", what, url, err)
		}
	}
	sn := sns.NewFromConfig(cfg, func(o *sns.Options) { o.RetryMaxAttempts = 2 })
	for _, what := range sortedKeys(topics) {
		arn := topics[what]
		if arn == "" {
			continue
		}
		if _, err := sn.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)}); err != nil {
			return fmt.Errorf("%s %s does not exist or cannot be read: %w", what, arn, err)
		}
	}
	return nil
}
