"""`/experiment` (HKube's route file `experiment.js`): list, get, create, delete."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from hkube_site.openapi import JSON_LIST
from pipelines import services
from pipelines.api.views import body_dict

OBJ = {"type": "object", "additionalProperties": True}
NAME_REQUIRED = "data should have required property 'name'"


class Experiments(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="All experiments")
    def get(self, request: Request) -> Response:
        return Response([e.as_api() for e in services.list_experiments()])

    @extend_schema(request={"application/json": OBJ}, responses={200: OBJ}, summary="Create an experiment")
    def post(self, request: Request) -> Response:
        experiment = services.create_experiment(body_dict(request))
        return Response({"message": "OK", "name": experiment.name})

    def delete(self, request: Request) -> Response:
        raise InvalidData(NAME_REQUIRED)


class Experiment(APIView):
    @extend_schema(responses={200: OBJ}, summary="One experiment")
    def get(self, request: Request, name: str) -> Response:
        return Response(services.get_experiment(name).as_api())

    @extend_schema(responses={200: OBJ}, summary="Delete an experiment, its crons and its jobs")
    def delete(self, request: Request, name: str) -> Response:
        services.delete_experiment(name)
        return Response({"message": "deleted successfully", "name": name})
