package placement

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// consumerAllocations is GET /allocations/{consumer} at microversion 1.28.
type consumerAllocations struct {
	Allocations map[string]struct {
		Resources map[string]int `json:"resources"`
	} `json:"allocations"`
	ConsumerGeneration *int   `json:"consumer_generation,omitempty"`
	ProjectID          string `json:"project_id,omitempty"`
	UserID             string `json:"user_id,omitempty"`
}

// movedConsumer is one consumer of the POST /allocations body.
type movedConsumer struct {
	Allocations        map[string]map[string]map[string]int `json:"allocations"`
	ConsumerGeneration *int                                 `json:"consumer_generation"`
	ProjectID          string                               `json:"project_id"`
	UserID             string                               `json:"user_id"`
}

// ConsumerAllocations returns a consumer's allocations: provider uuid -> resource class ->
// amount (nova's get_allocs_for_consumer, microversion 1.28); none is an empty map.
func (p *Client) ConsumerAllocations(ctx context.Context, consumer string) (map[string]map[string]int, error) {
	var got consumerAllocations
	if err := p.do(ctx, http.MethodGet, "/allocations/"+consumer, moveMicroversion, nil, &got, 200); err != nil {
		return nil, err
	}
	out := make(map[string]map[string]int, len(got.Allocations))
	for rp, a := range got.Allocations {
		out[rp] = a.Resources
	}
	return out, nil
}

// moveMicroversion is the one nova's report client moves allocations at (consumer
// generations).
const moveMicroversion = "1.28"

// MoveAllocations is nova's move_allocations: the allocations of source become target's, in
// one POST /allocations carrying both consumers' generations; whatever target held is
// overwritten. A source without allocations is success with nothing moved (moved false). A
// consumer generation conflict is retried after re-reading both, up to nova's limit.
func (p *Client) MoveAllocations(ctx context.Context, source, target string) (moved bool, err error) {
	for attempt := 1; attempt <= maxConflictRetries; attempt++ {
		moved, err = p.moveOnce(ctx, source, target)
		if !errors.Is(err, ErrPlacementConflict) {
			return moved, err
		}
		p.log.Info("consumer generation conflict moving allocations, retrying", "source", source, "target", target, "attempt", attempt)
	}
	return false, err
}

func (p *Client) moveOnce(ctx context.Context, source, target string) (bool, error) {
	var src, dst consumerAllocations
	if err := p.do(ctx, http.MethodGet, "/allocations/"+source, moveMicroversion, nil, &src, 200); err != nil {
		return false, err
	}
	if len(src.Allocations) == 0 {
		p.log.Info("no allocations to move", "source", source, "target", target)
		return false, nil
	}
	if err := p.do(ctx, http.MethodGet, "/allocations/"+target, moveMicroversion, nil, &dst, 200); err != nil {
		return false, err
	}
	if len(dst.Allocations) > 0 {
		p.log.Warn("overwriting the target consumer's allocations", "source", source, "target", target)
	}
	allocs := map[string]map[string]map[string]int{}
	for rp, a := range src.Allocations {
		allocs[rp] = map[string]map[string]int{"resources": a.Resources}
	}
	body := map[string]movedConsumer{
		source: {Allocations: map[string]map[string]map[string]int{}, ConsumerGeneration: src.ConsumerGeneration,
			ProjectID: src.ProjectID, UserID: src.UserID},
		target: {Allocations: allocs, ConsumerGeneration: dst.ConsumerGeneration, ProjectID: src.ProjectID, UserID: src.UserID},
	}
	if err := p.do(ctx, http.MethodPost, "/allocations", moveMicroversion, body, nil, 204); err != nil {
		return false, fmt.Errorf("move allocations of %s to %s: %w", source, target, err)
	}
	return true, nil
}

// EmptyAllocations is nova's delete_allocation_for_instance without force, as a confirmed
// resize removes the migration's allocations: the consumer's generation read, then its
// allocations replaced by none at that generation, so a concurrent change is a conflict
// rather than lost. A consumer without allocations is success with nothing done.
func (p *Client) EmptyAllocations(ctx context.Context, consumer string) error {
	var cur consumerAllocations
	if err := p.do(ctx, http.MethodGet, "/allocations/"+consumer, moveMicroversion, nil, &cur, 200); err != nil {
		return err
	}
	if len(cur.Allocations) == 0 {
		return nil
	}
	body := movedConsumer{Allocations: map[string]map[string]map[string]int{}, ConsumerGeneration: cur.ConsumerGeneration,
		ProjectID: cur.ProjectID, UserID: cur.UserID}
	if err := p.do(ctx, http.MethodPut, "/allocations/"+consumer, moveMicroversion, body, nil, 204); err != nil {
		return fmt.Errorf("delete allocations of %s: %w", consumer, err)
	}
	return nil
}
