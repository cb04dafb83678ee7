# ruff: noqa: E501  (recorded bodies are kept close to verbatim)
"""Requests and answers recorded from the real api.chartmogul.com by ChartMogul's own clients,
copied from their cassettes (bodies verbatim; YAML line folding undone, gzip/base64 decoded).

RUBY23 = chartmogul/chartmogul-ruby spec/fixtures/vcr_cassettes/ChartMogul_Customer/API_Actions/ (Oct 2023)
RUBY16 = chartmogul/chartmogul-ruby fixtures/vcr_cassettes/ChartMogul_Customer/API_Interactions/ (2016)
GO23   = chartmogul/chartmogul-go integration_tests/fixtures/customers.yaml (Aug 2023)
"""

from __future__ import annotations

from typing import Any

import orjson

RUBY23 = "chartmogul-ruby spec/fixtures/vcr_cassettes/ChartMogul_Customer/API_Actions/"
RUBY16 = "chartmogul-ruby fixtures/vcr_cassettes/ChartMogul_Customer/API_Interactions/"
GO23 = "chartmogul-go integration_tests/fixtures/customers.yaml"


def _json(text: str) -> Any:
    return orjson.loads(text)


# RUBY23 updates_the_customer_correctly_with_the_instance_method.yml: the GET, then the PATCH.
CURRYWURST_BEFORE = _json(r"""{"id":133149145,"uuid":"cus_a4680a9c-76a4-11ee-83ab-d3b9aabc7f00","external_id":"cus_007",
"name":"New Customer","email":"new_customer@example.com","status":"New Lead","customer-since":null,
"attributes":{"custom":{"Toggle":false},"clearbit":{},"stripe":{},"tags":[]},
"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","data_source_uuids":["ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46"],
"external_ids":["cus_007"],"company":"","country":null,"state":null,"city":"Berlin","zip":null,"lead_created_at":null,
"free_trial_started_at":null,"address":{"country":null,"state":null,"city":"Berlin","address_zip":null},"mrr":0,"arr":0,
"billing-system-url":null,"chartmogul-url":"https://app.chartmogul.com/#/customers/133149145-New_Customer",
"billing-system-type":"Google Sheets","currency":"EUR","currency-sign":"€","owner":"bruno+chartmogultest@chartmogul.com"}""")
CURRYWURST_PATCH = _json(r"""{"attributes":{"tags":["wurst"],"custom":{"Toggle":true}},"external_id":"cus_007",
"name":"Currywurst","email":"curry@wurst.com","company":"Curry 36","country":"DE","state":"NY","city":"Berlin",
"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","lead_created_at":"2016-01-01 14:30:00 UTC",
"free_trial_started_at":"2016-02-02 22:40:00 UTC","owner":"owner@chartmogul.com"}""")
CURRYWURST_AFTER = _json(r"""{"id":133149145,"uuid":"cus_a4680a9c-76a4-11ee-83ab-d3b9aabc7f00","external_id":"cus_007",
"name":"Currywurst","email":"curry@wurst.com","status":"New Lead","customer-since":null,
"attributes":{"custom":{"Toggle":true},"clearbit":{},"stripe":{},"tags":["wurst"]},
"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","data_source_uuids":["ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46"],
"external_ids":["cus_007"],"company":"Curry 36","country":"DE","state":null,"city":"Berlin","zip":null,
"lead_created_at":"2016-01-01T14:30:00.000Z","free_trial_started_at":"2016-02-02T22:40:00.000Z",
"address":{"country":"Germany","state":null,"city":"Berlin","address_zip":null},"mrr":0,"arr":0,"billing-system-url":null,
"chartmogul-url":"https://app.chartmogul.com/#/customers/133149145-Curry_36","billing-system-type":"Google Sheets",
"currency":"EUR","currency-sign":"€","owner":"bruno+chartmogultest@chartmogul.com"}""")

# RUBY23 with_new_pagination/paginates_correctly.yml: the first entry of `GET /v1/customers?per_page=1`
# (the customer the tag and custom attribute cassettes also write to).
JOHN_SMITH = _json(r"""{"id":114167450,"uuid":"cus_23740208-2c7e-11ee-9ea2-ffd2435982bb","external_id":"cus_002",
"name":"John Smith","email":"john@example.com","status":"Active","customer-since":"2016-01-01T12:00:00+00:00",
"attributes":{"custom":{"Toggle":true},"clearbit":{},"stripe":{},"tags":["auto-churned-delinquent-subscription","merged-customer"]},
"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","data_source_uuids":["ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46",
"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","ds_c0d412aa-5298-11ee-bb1f-332cea9687ed"],
"external_ids":["cus_002","cus_009","test_cus_ext_id"],"company":"Initrode","country":"US","state":"CA","city":"Mountain View",
"zip":"12345","lead_created_at":"2015-11-01T00:00:00.000Z","free_trial_started_at":"2015-11-07T01:20:00.000Z",
"address":{"country":"United States","state":"California","city":"Mountain View","address_zip":"12345"},"mrr":8008,
"arr":96096,"billing-system-url":null,"chartmogul-url":"https://app.chartmogul.com/#/customers/114167450-Initrode",
"billing-system-type":"Google Sheets","currency":"EUR","currency-sign":"€","owner":null}""")

# RUBY23 with_pagination/paginates_the_/search_endpoint_correctly.yml: the one customer found.
GAVIN = _json(r"""{"id":114167451,"uuid":"cus_23c11cf0-2c7e-11ee-b2cd-fbfd681a34dd","external_id":"cus_003",
"name":"Gavin Belson","email":"gavin@example.com","status":"Cancelled","customer-since":"2016-01-25T00:00:00+00:00",
"attributes":{"custom":{},"clearbit":{},"stripe":{},"tags":["managed","auto-churned-delinquent-subscription"]},
"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","data_source_uuids":["ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46"],
"external_ids":["cus_003"],"company":"Hooli","country":null,"state":null,"city":"","zip":null,
"lead_created_at":"2015-11-01T00:00:00.000Z","free_trial_started_at":"2015-11-07T01:20:00.000Z",
"address":{"country":null,"state":null,"city":"","address_zip":null},"mrr":0,"arr":0,"billing-system-url":null,
"chartmogul-url":"https://app.chartmogul.com/#/customers/114167451-Hooli","billing-system-type":"Google Sheets",
"currency":"EUR","currency-sign":"€","owner":null}""")


def go_customer(c_id: int, uuid: str, number: int, name: str, email: str) -> dict[str, Any]:
    """The three customers GO23 creates differ only in these values; the rest is as recorded."""
    recorded = _json(
        r"""{"id":0,"uuid":"","external_id":"","name":"","email":"",
"status":"New Lead","customer-since":null,"attributes":{"custom":{},"clearbit":{},"stripe":{},"tags":[]},
"data_source_uuid":"ds_8c1713a8-432c-11ee-8ee1-3b3ea70e77a3","data_source_uuids":["ds_8c1713a8-432c-11ee-8ee1-3b3ea70e77a3"],
"external_ids":[],"company":"","country":null,"state":null,"city":"","zip":null,
"lead_created_at":null,"free_trial_started_at":null,"address":{"country":null,"state":null,"city":"","address_zip":null},
"mrr":0,"arr":0,"billing-system-url":null,"chartmogul-url":"",
"billing-system-type":"Import API","currency":"USD","currency-sign":"$","owner":null}"""
    )
    external_id = f"TestImportCustomers_0{number}"
    label = name.replace(" ", "_")
    return {
        **recorded,
        "id": c_id,
        "uuid": uuid,
        "external_id": external_id,
        "external_ids": [external_id],
        "name": name,
        "email": email,
        "chartmogul-url": f"https://app.chartmogul.com/#/customers/{c_id}-{label}",
    }


GO_DATA_SOURCE = "ds_8c1713a8-432c-11ee-8ee1-3b3ea70e77a3"
GO_1 = go_customer(116786130, "cus_8c3841ae-432c-11ee-8ee2-7f76dda0574e", 1, "Test customer", "abc@123.com")
GO_2 = go_customer(116786131, "cus_8c593a12-432c-11ee-aa85-9f6a40dafa7e", 2, "Test customer 2", "abc@123.com")
GO_3 = go_customer(
    116786132, "cus_8c766452-432c-11ee-aa86-0b275e240358", 3, "Test customer 3", "ghi@example.com"
)
GO_2_RENAMED = go_customer(
    116786131, "cus_8c593a12-432c-11ee-aa85-9f6a40dafa7e", 2, "Chocolate customer 2", "abc@123.com"
)


# RUBY23 _find_by_external_id/returns_matching_user_if_exists.yml: one external_id, two customers
# in two data sources (why the relay treats several matches as ambiguous).
EXT_ID_TWINS = [
    _json(
        r"""{"id":119414699,"uuid":"cus_c10aa086-5298-11ee-82da-ebac6f7a03c3","external_id":"test_cus_ext_id","name":"Test Customer","email":"","status":"Active","customer-since":"2016-01-01T12:00:00+00:00","attributes":{"custom":{},"clearbit":{},"stripe":{},"tags":[]},"data_source_uuid":"ds_c0d412aa-5298-11ee-bb1f-332cea9687ed","data_source_uuids":["ds_c0d412aa-5298-11ee-bb1f-332cea9687ed"],"external_ids":["test_cus_ext_id"],"company":"","country":null,"state":null,"city":"","zip":null,"lead_created_at":null,"free_trial_started_at":null,"address":{"country":null,"state":null,"city":"","address_zip":null},"mrr":8008,"arr":96096,"billing-system-url":null,"chartmogul-url":"https://app.chartmogul.com/#/customers/119414699-Test_Customer","billing-system-type":"Import API","currency":"EUR","currency-sign":"€","owner":null}"""
    ),
    _json(
        r"""{"id":132752268,"uuid":"cus_e6c9e1b4-749a-11ee-8b12-bbb6dade4cfc","external_id":"test_cus_ext_id","name":"Test Customer","email":"test@customer.com","status":"New Lead","customer-since":null,"attributes":{"custom":{},"clearbit":{},"stripe":{},"tags":[]},"data_source_uuid":"ds_e685f09e-749a-11ee-8624-6baa0e7529f6","data_source_uuids":["ds_e685f09e-749a-11ee-8624-6baa0e7529f6"],"external_ids":["test_cus_ext_id"],"company":"","country":"DE","state":null,"city":"Berlin","zip":null,"lead_created_at":null,"free_trial_started_at":null,"address":{"country":"Germany","state":null,"city":"Berlin","address_zip":null},"mrr":0,"arr":0,"billing-system-url":null,"chartmogul-url":"https://app.chartmogul.com/#/customers/132752268-Test_Customer","billing-system-type":"Import API","currency":"EUR","currency-sign":"€","owner":null}"""
    ),
]
