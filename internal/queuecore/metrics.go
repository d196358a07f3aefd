// SPDX-License-Identifier: Apache-2.0

package queuecore

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// redelivered counts the messages that had been received before.
func redelivered(msgs []types.Message) int {
	n := 0
	for _, m := range msgs {
		if c, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); c > 1 {
			n++
		}
	}
	return n
}

// deletedCount and failedCount read a DeleteMessageBatch result (nil when
// the call failed).
func deletedCount(out *sqs.DeleteMessageBatchOutput) int {
	if out == nil {
		return 0
	}
	return len(out.Successful)
}

func failedCount(out *sqs.DeleteMessageBatchOutput) int {
	if out == nil {
		return 0
	}
	return len(out.Failed)
}
