package resolvers

import "context"

// connection is a keyset page of nodes in id order. It is generic over the
// node resolver; graphql-go binds the instantiated methods by name.
type connection[N any] struct {
	nodes   []N
	cursors []string
	hasNext bool
	count   func(ctx context.Context) (int64, error)
}

// edge is one node with its cursor.
type edge[N any] struct {
	cursor string
	node   N
}

func (e *edge[N]) Cursor() string { return e.cursor }
func (e *edge[N]) Node() N        { return e.node }

// pageInfo is the PageInfo of a connection.
type pageInfo struct {
	hasNext bool
	end     *string
}

func (p *pageInfo) HasNextPage() bool  { return p.hasNext }
func (p *pageInfo) EndCursor() *string { return p.end }

func (c *connection[N]) Edges() []*edge[N] {
	out := make([]*edge[N], len(c.nodes))
	for i := range c.nodes {
		out[i] = &edge[N]{cursor: c.cursors[i], node: c.nodes[i]}
	}
	return out
}

func (c *connection[N]) Nodes() []N { return c.nodes }

func (c *connection[N]) PageInfo() *pageInfo {
	p := &pageInfo{hasNext: c.hasNext}
	if n := len(c.cursors); n > 0 {
		p.end = &c.cursors[n-1]
	}
	return p
}

// TotalCount runs its COUNT only when a client selects it.
func (c *connection[N]) TotalCount(ctx context.Context) (int32, error) {
	n, err := c.count(ctx)
	return int32Of(n), err
}

// newConnection builds a page from rows fetched with LIMIT first+1: the
// extra row, if any, only says that a next page exists.
func newConnection[R, N any](rows []R, first int32, kind string, id func(R) int64, node func(R) N, count func(ctx context.Context) (int64, error)) *connection[N] {
	c := &connection[N]{count: count}
	if len(rows) > int(first) {
		rows, c.hasNext = rows[:first], true
	}
	c.nodes = make([]N, len(rows))
	c.cursors = make([]string, len(rows))
	for i, row := range rows {
		c.nodes[i] = node(row)
		c.cursors[i] = encodeCursor(kind, id(row))
	}
	return c
}
