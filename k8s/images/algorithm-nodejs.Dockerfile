# syntax=docker/dockerfile:1
# Base image for JavaScript algorithms: our wrapper (algorithms/wrappers/nodejs/wrapper.js, no
# npm dependencies). A build adds the user's code in ALGORITHM_PATH and runs `npm install` there.
# Build from the repository root:
#   docker build -f k8s/images/algorithm-nodejs.Dockerfile -t <registry>/hkube/algorithm-nodejs:<tag> .
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

ENV NODE_ENV=production \
    ALGORITHM_PATH=/hkube/algorithm-runner/algorithm_unique_folder

# The node image's `node` user is uid 1000.
RUN mkdir -p /hkube/wrapper /hkube/algorithm-runner/algorithm_unique_folder /hkube-logs \
 && chown -R node:node /hkube/algorithm-runner /hkube-logs

COPY algorithms/wrappers/nodejs/wrapper.js /hkube/wrapper/wrapper.js

USER node
WORKDIR /hkube/algorithm-runner/algorithm_unique_folder
CMD ["node", "/hkube/wrapper/wrapper.js"]
