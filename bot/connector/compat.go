package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// The methods below give *Client the method set of msbotbuilder-go's
// connector/client.Client, so it can replace that library's client in
// core.BotFrameworkAdapter (see sub-package botbuilder). The target URL is
// used as given (the adapter builds it from the activity's serviceUrl);
// the same service URL rules, token handling, size limits and error types
// apply as for the typed methods above.

// Post sends activity to target.
func (c *Client) Post(ctx context.Context, target url.URL, activity schema.Activity) error {
	return c.sendRaw(ctx, http.MethodPost, target, &activity)
}

// Put replaces the activity at target.
func (c *Client) Put(ctx context.Context, target url.URL, activity schema.Activity) error {
	return c.sendRaw(ctx, http.MethodPut, target, &activity)
}

// Delete deletes the resource at target.
func (c *Client) Delete(ctx context.Context, target url.URL) error {
	u, err := c.rawTarget(target)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, u, nil)
	return err
}

// Get returns the JSON body at target.
func (c *Client) Get(ctx context.Context, target url.URL) (json.RawMessage, error) {
	u, err := c.rawTarget(target)
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("connector: GET %s: response is not JSON", u)
	}
	return json.RawMessage(body), nil
}

func (c *Client) sendRaw(ctx context.Context, method string, target url.URL, act *schema.Activity) error {
	u, err := c.rawTarget(target)
	if err != nil {
		return err
	}
	body, err := json.Marshal(outgoing(act))
	if err != nil {
		return fmt.Errorf("connector: encode activity: %w", err)
	}
	_, err = c.do(ctx, method, u, body)
	return err
}

func (c *Client) rawTarget(target url.URL) (string, error) {
	if target.Host == "" {
		return "", errors.New("connector: target URL has no host")
	}
	base := url.URL{Scheme: target.Scheme, Host: target.Host}
	if err := c.checkServiceURL(base.String()); err != nil {
		return "", fmt.Errorf("connector: %w", err)
	}
	if target.RawQuery != "" || target.Fragment != "" || target.User != nil {
		return "", errors.New("connector: target URL must not carry a query, fragment or user info")
	}
	return target.String(), nil
}
